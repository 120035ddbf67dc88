"""The report of `bench/run.sh --plan deflate`: permessage-deflate side by side.

One table per fan-out (compressible 1-4 KiB JSON, every subscriber negotiated
the extension) and one for idle memory per connection with and without it, in
the same run. Written as bench/out/deflate/deflate.md; docs/benchmarks.md
quotes it.
"""

import sections
from report import _fmt, _index, _status, _table


def _value(record, field):
    """A figure of the run, also of one that failed (a server that fell behind)."""
    if record is None or "skipped" in record:
        return None
    return (record.get("result") or {}).get(field)


def _verdict(record):
    lost = _value(record, "lost")
    if record is not None and "error" in record and lost:
        return f"failed: {lost:,} messages still undelivered when the drain time ran out"
    return _status(record)


def _args(records, key):
    return next((" ".join(r["args"]) for r in records if r["scenario"] == key), "")


def markdown(meta, records):
    table = _index(records)
    servers = meta["servers"]
    parts = [
        "# permessage-deflate side by side",
        "",
        f"{meta['date']}, {meta['cores']} cores shared by the servers and the load generator. "
        f"Command: `{meta['command']}`.",
        "",
        "Peers: uWebSockets.js with `SHARED_COMPRESSOR`, Node ws with `perMessageDeflate: true` "
        "(its defaults: context takeover, 1 KiB threshold), wsrelay with its defaults "
        "(no context takeover, 128 B threshold).",
        "",
        "Every subscriber of a `deflate` fan-out inflates every message on the same two cores, so "
        "delivered msg/s there is bounded by the load generator (its CPU column); the server's own "
        "figures are its CPU per delivery and the bytes on the wire per delivery (what the subscribers "
        "read, frame headers included). `plain` is the same JSON with no extension offered. Idle: RSS "
        "growth per connection with no offer and with every connection offering the extension.",
    ]
    for key in [k for k in meta["scenarios"] if k.startswith("fanout-")]:
        rows = []
        for server in servers:
            record = table.get(key, {}).get(server["name"])
            if record is None:
                continue
            rows.append([
                server["label"],
                _fmt(_value(record, "delivered_per_sec")),
                _fmt(_value(record, "server_cpu_per_delivered_us"), 3),
                _fmt(_value(record, "wire_bytes_per_delivered")),
                _fmt(_value(record, "p99_us")),
                f"{_fmt(_value(record, 'deflated'))} / {_fmt(_value(record, 'delivered'))} / {_fmt(_value(record, 'lost'))}",
                _fmt(_value(record, "client_cpu_ms")),
                _verdict(record),
            ])
        header = ["server", "delivered msg/s", "server CPU µs/delivery", "bytes on the wire/delivery",
                  "p99 µs", "negotiated / delivered / lost", "generator CPU ms", "status"]
        parts += ["", f"## {key}", "", f"`wsrelay bench fanout {_args(records, key)}`", "", _table(header, rows)]
    idle = [k for k in meta["scenarios"] if k.startswith("idle-")]
    rows = []
    for server in servers:
        cells = [table.get(key, {}).get(server["name"]) for key in idle]
        if all(cell is None for cell in cells):
            continue
        values = [_value(cell, "rss_per_conn_bytes") for cell in cells]
        negotiated = [_value(cell, "deflated") for cell in cells]
        difference = values[-1] - values[0] if None not in values and len(values) == 2 else None
        rows.append([server["label"], *[_fmt(v) for v in values], _fmt(difference),
                     " / ".join(_fmt(n) for n in negotiated), ", ".join(_status(c) for c in cells)])
    header = ["server", *[f"bytes/conn {key}" for key in idle], "difference", "negotiated", "status"]
    parts += ["", "## Idle memory per connection", "", *(f"`wsrelay bench idle {_args(records, k)}`  " for k in idle),
              "", _table(header, rows), ""]
    return "\n".join(parts)


def write(out_dir, meta, records, docs=None):
    """bench/out/deflate/deflate.md, and the same as a section of
    docs/benchmarks.md (`docs`), which `make bench` keeps."""
    out_dir.mkdir(parents=True, exist_ok=True)
    text = markdown(meta, records)
    (out_dir / "deflate.md").write_text(text)
    if docs is not None:
        sections.splice(docs, "deflate", text.replace("# permessage-deflate", "## permessage-deflate", 1)
                        .replace("\n## ", "\n### "))
