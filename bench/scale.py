#!/usr/bin/env python3
"""`make bench-scale`: `wsrelay bench scale` at several connection counts.

Each point starts its own Redis and relays (R = ceil(N / 15,000), `--reuse-port
--backplane`) and load-generator processes, and prints one JSON line. The
lines are kept in bench/scale-results.jsonl (one per connection count and
$SCALE_ARGS; a new run of the same replaces the old one), from which the
results section of docs/scaling.md and docs/scaling.png are rewritten.

    bench/scale.sh                          # 25,000, 100,000 and 250,000
    CONNECTIONS=1000000 bench/scale.sh      # one point, added to the others
    SCALE_ARGS='--relay-arg=--idle-timeout=25m' CONNECTIONS=1000000 bench/scale.sh
                                            # more `wsrelay bench scale` flags
    bench/scale.sh --from-results           # only rewrite the section and plot
"""

import argparse
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.dont_write_bytecode = True

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "scale-results.jsonl"
DOC = REPO / "docs" / "scaling.md"
PLOT = REPO / "docs" / "scaling.png"
BEGIN = "<!-- bench-scale results: written by `make bench-scale` (bench/scale.py); do not edit by hand -->"
END = "<!-- end of bench-scale results -->"
DEFAULT_POINTS = (25_000, 100_000, 250_000)
# The run stops itself after 30 min (`--timeout`); this only backs that up.
WALL_LIMIT_S = 40 * 60


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", type=Path, default=REPO / "target" / "release" / "wsrelay")
    parser.add_argument("--from-results", action="store_true", help="only rewrite the section and the plot")
    return parser.parse_args()


def log(message):
    print(f"[bench-scale {datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_point(binary, connections, extra):
    """One `wsrelay bench scale` run with `extra` flags; always returns a record."""
    argv = [str(binary), "bench", "scale", "--connections", str(connections), *shlex.split(extra), "--json-only"]
    settings = [f"SCALE_ARGS={shlex.quote(extra)}"] if extra else []
    if os.environ.get("CONNECTIONS"):
        settings.append(f"CONNECTIONS={connections}")
    record = {
        "connections": connections,
        "args": extra,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join([*settings, "make bench-scale"]),
        "argv": " ".join(["wsrelay", *argv[1:]]),
        "commit": git("rev-parse", "--short", "HEAD"),
    }
    started = time.monotonic()
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, text=True, timeout=WALL_LIMIT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        record["error"] = f"still running after {WALL_LIMIT_S} s; killed"
        return record
    record["wall_s"] = round(time.monotonic() - started, 1)
    lines = [line for line in done.stdout.splitlines() if line.startswith('{"scenario":')]
    record["result"] = json.loads(lines[-1]) if lines else None
    if done.returncode != 0:
        record["error"] = f"exited with {done.returncode}"
    return record


def git(*args):
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown")
    mem_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:"))
    return f"{cpu}, {os.cpu_count()} cores, {mem_kib / 1024 / 1024:.1f} GiB RAM, Linux {platform.release()}"


def key_of(record):
    return record["connections"], record.get("args", "")


def load_results():
    if not RESULTS.exists():
        return {}
    records = (json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip())
    return {key_of(record): record for record in records}


def save_results(records):
    lines = [json.dumps(records[key]) + "\n" for key in sorted(records)]
    RESULTS.write_text("".join(lines))


def fmt(value, pattern="{:,.0f}"):
    return "-" if value is None else pattern.format(value)


def status(record):
    r = record.get("result") or {}
    if r.get("all_received") and "error" not in record:
        return "ok"
    return "; ".join((r.get("problems") or [])[:2]) or record.get("error", "failed")


def mib(kib):
    return None if kib is None else kib / 1024


# One row per figure: (label, function of the JSON line).
ROWS = (
    ("relays / load processes", lambda r: f"{fmt(r.get('relays'))} / {fmt(r.get('client_processes'))}"),
    ("connections opened", lambda r: fmt(r.get("connections"))),
    ("time to open them", lambda r: fmt(r.get("open_ms") and r["open_ms"] / 1000, "{:,.1f} s")),
    ("connections per relay", lambda r: f"{fmt(r.get('relay_connections_min'))} .. "
                                         f"{fmt(r.get('relay_connections_max'))}"),
    ("held by the relays before the publish", lambda r: fmt(r.get("held_before_publish"))),
    ("received / expected", lambda r: f"{fmt(r.get('delivered'))} / {fmt(r.get('expected'))}"),
    ("every connection got every message", lambda r: "yes" if r.get("all_received") else "no"),
    ("HTTP publish to all", lambda r: fmt(r.get("publish_to_all_ms"), "{:,.0f} ms")),
    ("publish to delivery p50", lambda r: fmt(r.get("p50_ms"), "{:,.0f} ms")),
    ("publish to delivery p99", lambda r: fmt(r.get("p99_ms"), "{:,.0f} ms")),
    ("publish to delivery max", lambda r: fmt(r.get("max_ms"), "{:,.0f} ms")),
    ("relay RSS, summed", lambda r: fmt(mib(r.get("relay_rss_kib")), "{:,.0f} MiB")),
    ("sockstat TCP mem (pages): before / held", lambda r: f"{fmt(r.get('sockstat_mem_pages_before'))} / "
                                                           f"{fmt(r.get('sockstat_mem_pages'))}"),
    ("sockstat TCP mem (pages): peak in delivery", lambda r: fmt(r.get("sockstat_mem_pages_peak"))),
    ("**bytes per connection** (RSS + sockstat)", lambda r: fmt(r.get("bytes_per_connection"), "**{:,.0f} B**")),
    ("kernel Slab growth (not in the above)", lambda r: fmt(mib(r.get("slab_growth_kib")), "{:,.0f} MiB")),
    ("relay CPU, delivery", lambda r: fmt(r.get("relay_cpu_delivery_ms"), "{:,.0f} ms")),
    ("Redis CPU: run / delivery", lambda r: f"{fmt(r.get('redis_cpu_ms'))} / "
                                            f"{fmt(r.get('redis_cpu_delivery_ms'))} ms"),
    ("Redis PUBLISH calls", lambda r: fmt(r.get("redis_publish_calls"))),
    ("closed by the relays' idle timeout", lambda r: fmt(r.get("idle_closed"))),
    ("accept-queue drops / receive-memory drops", lambda r: f"{fmt(r.get('listen_overflows'))} / "
                                                             f"{fmt(r.get('rcvq_drops'))}"),
    ("time under TCP memory pressure", lambda r: fmt(r.get("tcp_memory_pressure_ms"), "{:,.0f} ms")),
)


def summary(record):
    r = record.get("result") or {}
    return ", ".join(f"{label.strip('*')}: {cell(r).replace('**', '')}" for label, cell in ROWS[1:11])


def letter(index):
    return f"({chr(ord('a') + index)})"


def table(records):
    keys = sorted(records)
    header = [f"{letter(i)} {connections:,}" for i, (connections, _) in enumerate(keys)]
    lines = ["| | " + " | ".join(header) + " |", "|---" * (len(keys) + 1) + "|"]
    for label, cell in ROWS:
        lines.append(f"| {label} | " + " | ".join(cell(records[key].get("result") or {}) for key in keys) + " |")
    lines.append("| result | " + " | ".join(status(records[key]) for key in keys) + " |")
    return lines


def section(records):
    commands = [f"{letter(i)} `{r['command']}` ran `{r['argv']}` ({r['date']}, commit {r['commit']}, "
                f"{r.get('wall_s', '-')} s)" for i, r in enumerate(records[key] for key in sorted(records))]
    lines = [
        BEGIN,
        "",
        f"Machine: {machine()}, 20,000 descriptors per process; shared with other jobs while measured "
        "(sockstat and Slab are host-wide, so their figures include the other jobs' sockets).",
        "",
        *[f"- {command}" for command in commands],
        "",
        *table(records),
        "",
        "![time to reach every connection and memory per connection](scaling.png)",
        "",
        END,
    ]
    return "\n".join(lines)


def write_doc(records):
    text = DOC.read_text()
    if BEGIN not in text or END not in text:
        sys.exit(f"{DOC} has no bench-scale results markers")
    before, rest = text.split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    DOC.write_text(before + section(records) + after)


def write_plot(records):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [(letter(i), records[key]["result"]) for i, key in enumerate(sorted(records))
              if (records[key].get("result") or {}).get("all_received")]
    if not points:
        log("no complete point to plot")
        return
    labels = [label for label, _ in points]
    points = [p for _, p in points]
    counts = [p["connections"] for p in points]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.plot(counts, [p["publish_to_all_ms"] / 1000 for p in points], "o-", label="HTTP publish to all")
    left.plot(counts, [p["max_ms"] / 1000 for p in points], "s-", label="slowest message to all (max)")
    left.plot(counts, [p["p50_ms"] / 1000 for p in points], "^--", label="p50 delivery")
    left.set_title("time to reach every connection")
    left.set_ylabel("seconds")
    right.plot(counts, [p["bytes_per_connection"] for p in points], "o-",
               label="all-in: (relay RSS + sockstat mem) / conn")
    right.plot(counts, [p["relay_rss_kib"] * 1024 / p["connections"] for p in points], "s--",
               label="relay RSS / conn")
    right.plot(counts, [p["slab_growth_kib"] * 1024 / p["connections"] for p in points], "^:",
               label="kernel Slab growth / conn (both ends)")
    right.set_title("memory per connection")
    right.set_ylabel("bytes")
    for axis in (left, right):
        for label, count in zip(labels, counts):
            axis.annotate(label, (count, 0), textcoords="offset points", xytext=(0, 4), ha="center", fontsize=8)
        axis.set_xlabel("connections (letters: the columns of the table)")
        axis.set_xscale("log")
        axis.set_ylim(bottom=0)
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(PLOT, dpi=90)


def main():
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    records = load_results()
    failed = False
    if not args.from_results:
        wanted = os.environ.get("CONNECTIONS")
        points = [int(wanted)] if wanted else list(DEFAULT_POINTS)
        extra = os.environ.get("SCALE_ARGS", "").strip()
        for connections in points:
            log(f"{connections:,} connections {extra}...")
            record = run_point(args.bin, connections, extra)
            result = record.get("result") or {}
            log(f"{connections:,}: {status(record)}; {summary(record)}")
            failed |= "error" in record or not result.get("all_received")
            records[key_of(record)] = record
            save_results(records)
    write_doc(records)
    write_plot(records)
    log(f"wrote {DOC.relative_to(REPO)}, {PLOT.relative_to(REPO)} and {RESULTS.relative_to(REPO)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
