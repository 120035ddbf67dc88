"""The report of `bench/run.sh --plan deflate`: permessage-deflate side by side.

One table per fan-out (compressible 1-4 KiB JSON, every subscriber negotiated
the extension) and one for idle memory per connection with and without it, in
the same run. Written as bench/out/deflate/deflate.md; docs/benchmarks.md
quotes it.
"""

from report import _fmt, _index, _status, _table, _value


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
                _status(record),
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


def write(out_dir, meta, records):
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "deflate.md").write_text(markdown(meta, records))
