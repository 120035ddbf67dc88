"""Sections of docs/benchmarks.md that other runs than `make bench` write
(`bench/run.sh --plan deflate`): kept between markers, so that a full run
rewrites the rest of the file and leaves them in place."""

import re


def _markers(name):
    return f"<!-- section {name}: written by bench/run.sh --plan {name} -->", f"<!-- end of section {name} -->"


def kept(path):
    """Every marked section of the file at `path`, as one string ('' if none)."""
    try:
        text = path.read_text()
    except OSError:
        return ""
    found = re.findall(r"<!-- section (\w+): .*?<!-- end of section \1 -->\n", text, flags=re.S)
    return "".join(re.search(rf"<!-- section {name}: .*?<!-- end of section {name} -->\n", text, flags=re.S).group(0)
                   for name in found)


def splice(path, name, body):
    """Puts `body` into the file at `path` as section `name`, replacing the old one or appended."""
    start, end = _markers(name)
    section = f"{start}\n{body.strip()}\n{end}\n"
    text = path.read_text() if path.exists() else ""
    pattern = re.compile(rf"<!-- section {name}: .*?<!-- end of section {name} -->\n", flags=re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    path.write_text(text)
