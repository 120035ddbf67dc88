"""The bounded-window regime of the report: one table per scenario (median of
the runs, spread min–max) and a ratio table wsrelay ÷ uWebSockets.js.

The scenarios are those `scenarios.is_bounded` recognises by key: idle with
few handshakes in flight (`idle-N-cC`), fan-out with a small window
(`fanout-wW-N`) and a steady paced load (`steady-NxR`), all with one
generator process.
"""

import repeats

TITLE = "Bounded window (window 16, one generator process)"
# The generator counts as the bottleneck from this share of one core on.
GENERATOR_BOUND_PCT = 95
SUBJECT, REFERENCE = "wsrelay", "uws"


def _value(record, field):
    if record is None or "skipped" in record or not record.get("ok_runs", 1):
        return None
    return (record.get("result") or {}).get(field)


def _number(value, digits=0):
    return f"{value:,.{digits}f}"


def _cell(record, field, digits=0):
    """The median, and its spread over the runs when they differ."""
    value = _value(record, field)
    if value is None:
        return "—"
    low_high = repeats.spread(record, field)
    if low_high and low_high[0] != low_high[1]:
        return f"{_number(value, digits)} ({_number(low_high[0], digits)}–{_number(low_high[1], digits)})"
    return _number(value, digits)


def _status(record):
    if record is None:
        return "not run"
    if "skipped" in record:
        return f"skipped: {record['skipped']}"
    runs, ok_runs = record.get("runs", 1), record.get("ok_runs", 1)
    failed = record.get("failed_runs") or ([record["error"]] if "error" in record else [])
    if not failed:
        return f"ok ({runs} runs)" if runs > 1 else "ok"
    return f"ok in {ok_runs} of {runs} runs; failed: {failed[0]}"


def generator_share(record):
    """The busiest generator process's share of one core (the sum over its
    processes for results that lack it), median over the runs."""
    busiest = _value(record, "client_busiest_cpu_pct")
    return busiest if busiest is not None else _value(record, "client_cpu_pct")


def generator_bound(record):
    share = generator_share(record)
    return share is not None and share >= GENERATOR_BOUND_PCT


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _idle_table(by_server, servers):
    header = ["server", "connections", "handshakes/s", "server CPU ms (ramp-up)",
              "generator CPU % (sum; busiest process)", "bytes/conn", "status"]
    rows = []
    for server in servers:
        record = by_server.get(server["name"])
        rows.append([server["label"], _cell(record, "connections"), _cell(record, "handshakes_per_sec"),
                     _cell(record, "server_cpu_ms"),
                     f"{_cell(record, 'client_cpu_pct')}; {_cell(record, 'client_busiest_cpu_pct')}",
                     _cell(record, "rss_per_conn_bytes"), _status(record)])
    return _table(header, rows)


def _fanout_table(by_server, servers):
    header = ["server", "delivered msg/s", "p50 µs", "p99 µs", "p99.9 µs", "max µs", "stalls ≥ 10 ms",
              "longest stall ms", "server CPU µs/msg", "server CPU %", "server waiting for a core, ms",
              "generator CPU % (sum; busiest process)",
              "delivered / lost", "status"]
    rows = []
    for server in servers:
        record = by_server.get(server["name"])
        rows.append([server["label"], _cell(record, "delivered_per_sec"), _cell(record, "p50_us"),
                     _cell(record, "p99_us"), _cell(record, "p999_us"), _cell(record, "max_us"),
                     _cell(record, "stalls"), _cell(record, "longest_stall_ms", 1),
                     _cell(record, "server_cpu_per_delivered_us", 3), _cell(record, "server_cpu_pct", 1),
                     _cell(record, "server_run_queue_wait_ms"),
                     f"{_cell(record, 'client_cpu_pct')}; {_cell(record, 'client_busiest_cpu_pct')}",
                     f"{_cell(record, 'delivered')} / {_cell(record, 'lost')}", _status(record)])
    return _table(header, rows)


def _title(key):
    kind, rest = key.split("-", 1)
    if kind == "idle":
        connections, concurrency = rest.split("-c")
        return (f"Idle: {int(connections):,} connections from one generator process, "
                f"{int(concurrency)} handshakes in flight")
    if kind == "fanout":
        window, subscribers = rest[1:].split("-")
        return (f"Fan-out, window {int(window)}: {int(subscribers):,} subscribers in one generator process, "
                f"64-byte messages")
    subscribers, rate = rest.split("x")
    return (f"Steady load: {int(rate):,} msg/s to {int(subscribers):,} subscribers "
            f"({int(subscribers) * int(rate):,} deliveries/s), 64-byte messages")


# The ratio table's columns: (header, which scenarios, field, digits of the values).
RATIO_COLUMNS = (
    ("handshakes/s", ("idle",), "handshakes_per_sec", 0),
    ("delivered msg/s", ("fanout",), "delivered_per_sec", 0),
    ("server CPU µs per delivered message", ("fanout", "steady"), "server_cpu_per_delivered_us", 3),
    ("steady server CPU %", ("steady",), "server_cpu_pct", 1),
    ("p99.9 at steady load (µs)", ("steady",), "p999_us", 0),
)


def ratio_cell(by_server, field, digits):
    """"0.85× (12,000 / 14,100)": wsrelay ÷ uWS.js, medians of the runs."""
    subject = _value(by_server.get(SUBJECT), field)
    reference = _value(by_server.get(REFERENCE), field)
    if subject is None or not reference:
        return "—"
    return f"{subject / reference:.2f}× ({_number(subject, digits)} / {_number(reference, digits)})"


def _bound_cell(by_server, labels):
    bound = [f"{labels[name]} ({generator_share(by_server.get(name)):.0f} %)"
             for name in (SUBJECT, REFERENCE) if generator_bound(by_server.get(name))]
    return "generator-bound: " + ", ".join(bound) if bound else "no"


def ratio_table(keys, table, servers):
    labels = {server["name"]: server["label"] for server in servers}
    rows = []
    for key in keys:
        by_server = table.get(key, {})
        kind = key.split("-", 1)[0]
        cells = [ratio_cell(by_server, field, digits) if kind in kinds else ""
                 for _, kinds, field, digits in RATIO_COLUMNS]
        rows.append([f"`{key}`", *cells, _bound_cell(by_server, labels)])
    header = ["scenario", *(header for header, *_ in RATIO_COLUMNS), "generator ≥ 95 % of a core"]
    return _table(header, rows)


def markdown(meta, table, keys, servers, args_of):
    """The regime's part of benchmarks.md: `table` maps key -> server -> folded record."""
    names = {server["name"] for server in servers}
    runs = max((meta.get("repeats") or {}).get(key, 1) for key in keys)
    parts = [
        f"## {TITLE}",
        "",
        "The publisher keeps at most 16 messages in flight (the steady load: 64, rarely reached at its pace), "
        "all subscribers live in one generator process, which opens connections 64 at a time. "
        + (f"Each scenario ran {runs} times per server, the servers taking turns within each round; every "
           "figure is the median of the runs, with their spread (min–max) in brackets when they differ. "
           if runs > 1 else "")
        + "Method: \"Two regimes\" below.",
        "",
    ]
    if {SUBJECT, REFERENCE} <= names:
        parts += [
            "### wsrelay ÷ uWebSockets.js",
            "",
            "Ratios of the medians (wsrelay / uWS.js in brackets): above 1× is better for handshakes/s and "
            "msg/s, below 1× is better for CPU and latency. A row is marked generator-bound when the busiest "
            f"generator process used at least {GENERATOR_BOUND_PCT} % of a core in that server's runs "
            "(median): the generator, not the server, may have set the pace.",
            "",
            ratio_table(keys, table, servers),
            "",
        ]
    for key in keys:
        by_server = table.get(key, {})
        body = _idle_table(by_server, servers) if key.startswith("idle-") else _fanout_table(by_server, servers)
        kind = "idle" if key.startswith("idle-") else "fanout"
        parts += [f"### {_title(key)}", "", body, "",
                  f"Generator arguments: `wsrelay bench {kind} {args_of(key)}`", ""]
    return "\n".join(parts)
