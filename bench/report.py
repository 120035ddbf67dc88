"""Turns the results of a side-by-side run into docs/benchmarks.md and a plot."""

import json
import os
import platform
import resource
import subprocess
from pathlib import Path

import bounded_report
import repeats
import scenarios
import sections
from servers import PEERS_DIR

DEEP_TITLE = "Deep pipeline (window 64, several generator processes)"

# Reference points for the ratio columns.
REFERENCES = (("uws", "uWS.js"), ("node-ws", "Node ws"))
COLORS = {"wsrelay": "#d62728", "uws": "#1f77b4", "tokio-tungstenite": "#ff7f0e", "node-ws": "#2ca02c"}


def machine_info():
    """CPU, cores, memory, kernel and descriptor limit of this host."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "fd_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[1],
    }


def _output(argv, cwd=None):
    try:
        return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def _locked_version(peer, package):
    try:
        lock = json.loads((PEERS_DIR / peer / "package-lock.json").read_text())
        return lock["packages"][f"node_modules/{package}"]["version"]
    except (OSError, KeyError, ValueError):
        return "unknown"


def _cargo_locked_version(package):
    text = (PEERS_DIR / "tokio-tungstenite" / "Cargo.lock").read_text()
    blocks = text.split("[[package]]")
    for block in blocks:
        if f'name = "{package}"\n' in block:
            for line in block.splitlines():
                if line.startswith("version = "):
                    return line.split('"')[1]
    return "unknown"


def versions(server_bin, generator_bin):
    """Versions of everything measured, for the report's header."""
    server = _output([str(server_bin), "--version"])
    if server_bin != generator_bin:
        server += f" ({server_bin}; generator {generator_bin})"
    elif not os.environ.get("WSRELAY_BIN"):
        # Built from this checkout: its commit identifies the server measured.
        server += f", commit {_output(['git', 'rev-parse', '--short', 'HEAD'], cwd=PEERS_DIR)}"
    return {
        "wsrelay": server,
        "rustc": _output(["rustc", "--version"]),
        "node": _output(["node", "--version"]),
        "ws": _locked_version("node-ws", "ws"),
        "express": _locked_version("node-ws", "express"),
        "uws": _locked_version("uws", "@trufflesuite/uws-js-unofficial"),
        "tokio-tungstenite": _cargo_locked_version("tokio-tungstenite"),
        "tokio": _cargo_locked_version("tokio"),
    }


def _index(records):
    """{scenario key: {server: record}}, the repetitions of each folded into one
    (medians; see repeats.py)."""
    return repeats.folded(records)


def _value(record, field):
    if record is None or "error" in record or "skipped" in record:
        return None
    return (record.get("result") or {}).get(field)


def _fmt(value, digits=0, unit=""):
    if value is None:
        return "—"
    return f"{value:,.{digits}f}{unit}"


def _ratio(value, reference):
    if value is None or not reference:
        return "—"
    return f"{value / reference:.2f}×"


def _status(record):
    if record is None:
        return "not run"
    if "skipped" in record:
        return f"skipped: {record['skipped']}"
    if "error" in record:
        return f"failed: {record['error']}"
    if record.get("failed_runs"):
        return f"ok in {record['ok_runs']} of {record['runs']} runs; failed: {record['failed_runs'][0]}"
    return "ok"


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _ratio_cells(by_server, server, field):
    value = _value(by_server.get(server), field)
    return [_ratio(value, _value(by_server.get(ref), field)) for ref, _ in REFERENCES]


def _ref_headers(what):
    return [f"{what} vs {label}" for _, label in REFERENCES]


def _idle_section(key, by_server, servers):
    rows = []
    for server in servers:
        record = by_server.get(server["name"])
        rows.append(
            [server["label"], _fmt(_value(record, "connections")),
             _fmt(_value(record, "handshakes_per_sec")),
             *_ratio_cells(by_server, server["name"], "handshakes_per_sec"),
             _fmt(_value(record, "server_rss_before_kib")), _fmt(_value(record, "server_rss_after_kib")),
             _fmt(_value(record, "rss_per_conn_bytes")),
             *_ratio_cells(by_server, server["name"], "rss_per_conn_bytes"),
             _status(record)]
        )
    header = ["server", "connections", "handshakes/s", *_ref_headers("handshakes/s"),
              "RSS before (KiB)", "RSS after (KiB)", "bytes/conn", *_ref_headers("bytes/conn"), "status"]
    n = key.rsplit("-", 1)[1]
    if key.startswith("tls-"):
        title = f"TLS idle: {int(n):,} connections over wss:// (each a full TLS 1.3 handshake, no resumption)"
    else:
        title = f"Idle: {int(n):,} connections"
    return f"### {title}\n\n" + _table(header, rows)


def _fanout_section(title, by_server, servers):
    rows = []
    for server in servers:
        name = server["name"]
        record = by_server.get(name)
        rows.append(
            [server["label"], _fmt(_value(record, "delivered_per_sec")),
             *_ratio_cells(by_server, name, "delivered_per_sec"),
             _fmt(_value(record, "p50_us")), _fmt(_value(record, "p99_us")),
             *_ratio_cells(by_server, name, "p99_us"), _fmt(_value(record, "p999_us")), _fmt(_value(record, "max_us")),
             _stalls(record),
             _fmt(_value(record, "server_cpu_per_delivered_us"), 3),
             *_ratio_cells(by_server, name, "server_cpu_per_delivered_us"),
             _fmt(_value(record, "server_cpu_ms")), _fmt(_value(record, "client_cpu_ms")),
             _fmt(_value(record, "server_peak_rss_kib")),
             f"{_fmt(_value(record, 'delivered'))} / {_fmt(_value(record, 'lost'))}",
             _status(record)]
        )
    header = ["server", "delivered msg/s", *_ref_headers("msg/s"), "p50 µs", "p99 µs", *_ref_headers("p99"),
              "p99.9 µs", "max µs", "stalls ≥ 10 ms (longest ms)", "server CPU µs/msg", *_ref_headers("CPU/msg"), "server CPU ms", "generator CPU ms",
              "server peak RSS KiB", "delivered / lost", "status"]
    return f"### {title}\n\n" + _table(header, rows)


def _stalls(record):
    stalls = _value(record, "stalls")
    if stalls is None:
        return "—"
    return f"{stalls:,.0f} ({_value(record, 'longest_stall_ms'):,.1f})"


def _scenario_args(records, key):
    for record in records:
        if record["scenario"] == key:
            return " ".join(record["args"])
    return ""


def write_markdown(path, meta, records, plot_name):
    table = _index(records)
    servers = meta["servers"]
    v = meta["versions"]
    parts = [
        "# Benchmarks: wsrelay side by side",
        "",
        "Generated by `make bench` (bench/run.py); do not edit by hand. "
        "Every server runs as its own process, started fresh for each scenario; the load generator "
        "(`wsrelay bench`, one or several client processes) runs on the same host and **shares its cores with "
        "the server**, so absolute figures say as much about the host as about the server. Only the "
        "ratios within this one run count. Ratios are row ÷ reference: above 1× is better for msg/s and "
        "handshakes/s, below 1× is better for bytes/conn, p99 and CPU/msg.",
        "",
        f"- Date: {meta['date']}" + (f" (the run took {meta['total_minutes']} min)" if meta.get("total_minutes") else ""),
        f"- Command: `{meta['command']}`" + (" (quick smoke run: small N, not representative)" if meta.get("quick") else ""),
        f"- Machine: {meta['cpu']}, {meta['cores']} cores, {meta['memory_gib']} GiB RAM, "
        f"Linux {meta['kernel']}, {meta['fd_limit']:,} descriptors per process",
        f"- wsrelay: {v['wsrelay']}, {v['rustc']}",
        f"- Node.js {v['node']}: ws {v['ws']} + express {v['express']}; "
        f"uWebSockets.js from @trufflesuite/uws-js-unofficial {v['uws']}",
        f"- tokio-tungstenite {v['tokio-tungstenite']} on tokio {v['tokio']} (default WebSocketConfig)",
        "",
        "Servers: wsrelay with `--listen` and defaults otherwise (`RUST_LOG=warn`); the peers from "
        "bench/peers/ (same behaviour: `GET /`, greeting, each message to every other client). "
        "Fan-out: one publisher sends 64-byte messages to N subscribers; delivered msg/s is summed over "
        "subscribers; latency is publish-to-receive; server CPU per delivered message is the figure that "
        "stays fair when the generator saturates.",
        "",
    ]
    if plot_name:
        parts += [f"![delivered msg/s, p99 latency and idle memory per connection]({plot_name})", ""]
    if any(key.startswith("tls-") for key in meta["scenarios"]):
        parts += [
            "TLS scenarios: wsrelay with `--tls-cert`/`--tls-key`, uWebSockets.js as `SSLApp`, both serving "
            "one ECDSA P-256 certificate made by openssl for the run; the generator (rustls with ring, ALPN "
            "http/1.1) resumes no session, so every connection costs a full TLS 1.3 handshake on both sides "
            "of the shared cores. The other peers are not measured over TLS.",
            "",
        ]
    deep_keys = [key for key in meta["scenarios"] if not scenarios.is_bounded(key)]
    bounded_keys = [key for key in meta["scenarios"] if scenarios.is_bounded(key)]
    if deep_keys and bounded_keys:
        parts += [f"## {DEEP_TITLE}", "",
                  "The generator's defaults: the publisher keeps up to 64 messages in flight, subscribers and "
                  "connections are spread over several generator processes, 256 handshakes in flight each. "
                  "Method: \"Two regimes\" below.", ""]
    for key in deep_keys:
        by_server = table.get(key, {})
        args = _scenario_args(records, key)
        if key.startswith(("idle-", "tls-idle-")):
            parts.append(_idle_section(key, by_server, servers))
        elif key.startswith("tls-fanout-"):
            n = int(key.rsplit("-", 1)[1])
            parts.append(_fanout_section(
                f"TLS fan-out at full speed: {n:,} subscribers over wss://, 64-byte messages", by_server, servers))
        elif key.startswith("fanout-"):
            n = int(key.split("-", 1)[1])
            parts.append(_fanout_section(f"Fan-out at full speed: {n:,} subscribers, 64-byte messages", by_server, servers))
        else:
            subscribers, rate = key.split("-", 1)[1].split("x")
            parts.append(_fanout_section(
                f"Fan-out at a fixed load: {int(subscribers):,} subscribers × {int(rate):,} msg/s "
                f"({int(subscribers) * int(rate):,} deliveries/s), 64-byte messages", by_server, servers))
        kind = "idle" if "idle-" in key else "fanout"
        trust = " --ca ca.pem" if key.startswith("tls-") else ""
        runs = (meta.get("repeats") or {}).get(key, 1)
        median = f" (each figure the median of {runs} runs)" if runs > 1 else ""
        parts += ["", f"Generator arguments: `wsrelay bench {kind} {args}{trust}`{median}", ""]
    if bounded_keys:
        parts.append(bounded_report.markdown(meta, table, bounded_keys, servers,
                                             lambda key: _scenario_args(records, key)))
    parts += ["<details><summary>Raw JSON lines</summary>", "", "```"]
    for record in records:
        if record.get("result"):
            repeated = (meta.get("repeats") or {}).get(record["scenario"], 1) > 1
            rep = f" run {record['rep']}" if repeated and "rep" in record else ""
            parts.append(f"{record['server']}{rep}: {json.dumps(record['result'])}")
    parts += ["```", "", "</details>", ""]
    kept = sections.kept(path)  # what other plans wrote into the file
    path.write_text("\n".join(parts) + ("\n" + kept if kept else ""))


def write_plot(path, meta, records):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    servers = meta["servers"]
    deep_keys = [key for key in meta["scenarios"] if not scenarios.is_bounded(key)]
    fanout_keys = [key for key in deep_keys if key.startswith("fanout-")]
    rate_keys = [key for key in deep_keys if key.startswith("rate-")]
    idle_keys = [key for key in deep_keys if key.startswith("idle-")]
    table = _index(records)
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    (throughput, latency), (memory, fixed) = axes

    for server in servers:
        name, label = server["name"], server["label"]
        points = [(int(key.split("-")[1]), table.get(key, {}).get(name)) for key in fanout_keys]
        xs = [n for n, record in points if _value(record, "delivered_per_sec") is not None]
        throughput.plot(xs, [_value(table[f"fanout-{n}"][name], "delivered_per_sec") for n in xs],
                        marker="o", label=label, color=COLORS.get(name))
        latency.plot(xs, [_value(table[f"fanout-{n}"][name], "p99_us") / 1000 for n in xs],
                     marker="o", label=label, color=COLORS.get(name))
    throughput.set(xscale="log", yscale="log", xlabel="subscribers", ylabel="delivered messages/s",
                   title="Fan-out at full speed (64 B): delivered msg/s")
    latency.set(xscale="log", yscale="log", xlabel="subscribers", ylabel="p99 latency (ms)",
                title="Fan-out at full speed (64 B): p99 latency")
    for axis in (throughput, latency):
        axis.grid(True, which="both", alpha=0.3)

    _bars(memory, servers, table, idle_keys[:1], "rss_per_conn_bytes", 1,
          "bytes per connection", f"Idle RSS per connection ({int(idle_keys[0].split('-')[1]):,} connections)" if idle_keys else "Idle RSS")
    if rate_keys:
        subscribers, rate = rate_keys[0].split("-", 1)[1].split("x")
        _bars(fixed, servers, table, rate_keys[:1], "p99_us", 1000, "p99 latency (ms)",
              f"Fixed load: {int(subscribers):,} subscribers × {int(rate)} msg/s, p99")
    fig.suptitle(f"wsrelay side by side — {meta['date']}, {meta['cores']} cores shared with the load generator")
    # One legend for both line charts, between the title and the plots, where
    # it hides no line.
    handles, labels = throughput.get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), bbox_to_anchor=(0.5, 0.955), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _bars(axis, servers, table, keys, field, divisor, ylabel, title):
    labels, values, colors = [], [], []
    for server in servers:
        value = _value(table.get(keys[0], {}).get(server["name"]), field) if keys else None
        labels.append(server["label"])
        values.append(0 if value is None else value / divisor)
        colors.append(COLORS.get(server["name"]))
    bars = axis.bar(labels, values, color=colors)
    axis.bar_label(bars, labels=[("n/a" if not v else f"{v:,.0f}" if v >= 100 else f"{v:,.2f}") for v in values])
    shown = [v for v in values if v > 0]
    spread = len(shown) == len(values) and max(shown) / min(shown) > 20
    axis.set(ylabel=ylabel, title=title, yscale="log" if spread else "linear")
    if shown:
        # Headroom for the value labels above the tallest bar.
        axis.set_ylim(top=max(shown) * (3 if spread else 1.15))
    axis.tick_params(axis="x", labelrotation=15)


def write(out_dir, meta, records):
    """Writes benchmarks.md and, when plain fan-outs of the deep pipeline ran (the
    plot's axes), benchmarks.png into out_dir; True when it wrote the plot."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plotted = any(key.startswith("fanout-") and not scenarios.is_bounded(key) for key in meta["scenarios"])
    if plotted:
        write_plot(out_dir / "benchmarks.png", meta, records)
    write_markdown(out_dir / "benchmarks.md", meta, records, "benchmarks.png" if plotted else None)
    return plotted
