#!/usr/bin/env python3
"""Side-by-side benchmark: wsrelay against the peers in bench/peers/.

Builds wsrelay (release) and the peers, then for each server and scenario
starts a fresh server process, drives it with `wsrelay bench ... --json-only
--server-pid PID`, kills it, and finally writes a report (Markdown table and
plot). Raw JSON lines are kept in bench/out/.

    bench/run.sh                 # the full run, writes docs/benchmarks.{md,png}
    bench/run.sh --quick         # a smoke run, writes bench/out/quick/
    bench/run.sh --servers uws,node-ws --no-build
    bench/run.sh --only fanout-w16,steady,idle-9000-c64 --servers wsrelay,uws --repeat 3

Each scenario runs `repeat` times per server (its own setting, or --repeat),
interleaved: repetition 1 on every server, then repetition 2, ..., so that
noise from the shared host falls on every server alike.

The wsrelay binary (server and load generator) is $WSRELAY_BIN when set,
otherwise the release build of this repository; $WSRELAY_SERVER_BIN, when
set, is the server alone (to compare server builds under one generator).
"""

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

# No __pycache__ beside the sources of a checkout.
sys.dont_write_bytecode = True

import deflate_report  # noqa: E402
import report  # noqa: E402
import scenarios  # noqa: E402
from servers import (  # noqa: E402
    BENCH_DIR, PEERS_DIR, REPO_DIR, RunningServer, fd_hard_limit, make_tls_files, raise_fd_limit, server_specs,
)

OUT_DIR = BENCH_DIR / "out"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small smoke run; report goes to bench/out/quick/")
    parser.add_argument("--plan", choices=["deflate"], help="only these scenarios; report goes to bench/out/<plan>/")
    parser.add_argument("--servers", help="comma-separated subset of: wsrelay,uws,tokio-tungstenite,node-ws")
    parser.add_argument("--only", help="comma-separated prefixes of the scenarios to run, e.g. tls- (default: all)")
    parser.add_argument("--out", type=Path, help="directory for benchmarks.md and benchmarks.png")
    parser.add_argument("--no-build", action="store_true", help="use the existing builds of wsrelay and the peers")
    parser.add_argument("--from-results", type=Path, metavar="JSONL", help="only rewrite the report from a saved results file")
    parser.add_argument("--repeat", type=_positive, metavar="K",
                        help="runs per scenario and server, interleaved (default: the scenario's own, 3 for the bounded regime)")
    return parser.parse_args()


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return value


def wsrelay_binary(build):
    """$WSRELAY_BIN, or this repository's release binary (built first unless told not to)."""
    explicit = os.environ.get("WSRELAY_BIN")
    if explicit:
        return Path(explicit).resolve()
    if build:
        log("cargo build --release (wsrelay)")
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO_DIR, check=True, stdin=subprocess.DEVNULL)
    target_dir = Path(os.environ.get("CARGO_TARGET_DIR", REPO_DIR / "target"))
    return target_dir / "release" / "wsrelay"


def build_peers():
    log("bench/peers/build.sh")
    subprocess.run([str(PEERS_DIR / "build.sh")], check=True, stdin=subprocess.DEVNULL)


def run_generator(wsrelay_bin, scenario, server):
    """Runs one scenario against a running server; returns (json or None, error or None)."""
    trust = ["--ca", str(server.tls.ca)] if server.tls else []
    argv = [str(wsrelay_bin), "bench", scenario.kind, "--url", server.url, *scenario.args, *trust,
            "--server-pid", str(server.pid), "--json-only"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=scenario.timeout_s, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, f"generator still running after {scenario.timeout_s}s; killed"
    lines = [line for line in done.stdout.splitlines() if line.startswith('{"scenario":')]
    result = json.loads(lines[-1]) if lines else None
    if done.returncode != 0:
        tail = " ".join(done.stderr.strip().splitlines()[-3:])
        return result, f"generator exited with {done.returncode}: {tail}"[:400]
    if result is None:
        return None, "generator printed no JSON line"
    return result, None


def run_one(wsrelay_bin, spec, scenario, log_dir, tls_files):
    """One fresh server process, one scenario; always returns a result record."""
    record = {"server": spec.name, "scenario": scenario.key, "kind": scenario.kind, "args": list(scenario.args)}
    if scenario.tls and spec.tls_argv is None:
        record["skipped"] = "not measured over TLS"
        return record
    tls = tls_files if scenario.tls else None
    try:
        env = dict(scenario.server_env)
        with RunningServer(spec, log_dir / f"{spec.name}.log", tls=tls, env=env) as server:
            fd_limit = fd_hard_limit(server.pid)
            if fd_limit is not None and fd_limit < scenario.needs_fds:
                record["skipped"] = f"server process may hold only {fd_limit:,} descriptors"
                return record
            started = time.monotonic()
            result, error = run_generator(wsrelay_bin, scenario, server)
            record["wall_s"] = round(time.monotonic() - started, 1)
            if server.process.poll() is not None:
                error = error or f"server exited with {server.process.returncode} during the run"
    except RuntimeError as failure:
        result, error = None, str(failure)
    record["result"] = result
    if error:
        record["error"] = error
    return record


def interleaved(plan, specs, repeat=None):
    """(scenario, repetition from 1, server) in run order: for each scenario,
    repetition 1 on every server, then repetition 2, ..."""
    for scenario in plan:
        for rep in range(1, (repeat or scenario.repeat) + 1):
            for spec in specs:
                if not scenario.servers or spec.name in scenario.servers:
                    yield scenario, rep, spec


def describe(record):
    if "skipped" in record:
        return f"skipped ({record['skipped']})"
    result = record.get("result") or {}
    parts = []
    if result.get("scenario") == "idle":
        parts.append(f"{result.get('handshakes_per_sec', 0):,.0f} handshakes/s")
        if result.get("rss_per_conn_bytes") is not None:
            parts.append(f"{result['rss_per_conn_bytes']:,.0f} B/conn")
    elif result.get("scenario") == "fanout":
        parts.append(f"{result.get('delivered_per_sec', 0):,.0f} delivered/s")
        parts.append(f"p99 {result.get('p99_us') or 0:,.0f} µs")
        parts.append(f"p99.9 {result.get('p999_us') or 0:,.0f} µs")
        parts.append(f"{result.get('stalls', 0)} stalls (longest {result.get('longest_stall_ms', 0):,.1f} ms)")
    if result.get("client_busiest_cpu_pct") is not None:
        parts.append(f"busiest generator process {result['client_busiest_cpu_pct']:.0f} % of a core")
    if "error" in record:
        parts.append(f"FAILED: {record['error']}")
    return ", ".join(parts)


def write_report(out_dir, meta, records):
    if meta.get("plan") == "deflate":
        docs = REPO_DIR / "docs" / "benchmarks.md"
        deflate_report.write(out_dir, meta, records, docs)
        log(f"wrote {out_dir / 'deflate.md'} and its section of {docs}")
    else:
        plotted = report.write(out_dir, meta, records)
        log(f"wrote {out_dir / 'benchmarks.md'}" + (f" and {out_dir / 'benchmarks.png'}" if plotted else ""))


def log(message):
    print(f"[bench {datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main():
    args = parse_args()
    # SIGTERM (e.g. from make being stopped) unwinds like Ctrl-C, so that the
    # running server is killed by its guard.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    side_run = "quick" if args.quick else args.plan
    out_dir = args.out or (OUT_DIR / side_run if side_run else REPO_DIR / "docs")

    if args.from_results:
        records = [json.loads(line) for line in args.from_results.read_text().splitlines() if line.strip()]
        meta = records.pop(0)
        write_report(out_dir, meta, records)
        return 0

    raise_fd_limit()
    wsrelay_bin = wsrelay_binary(build=not args.no_build)
    if not args.no_build:
        build_peers()
    server_bin = Path(os.environ.get("WSRELAY_SERVER_BIN", wsrelay_bin)).resolve()
    specs = server_specs(server_bin)
    if args.servers:
        wanted = args.servers.split(",")
        unknown = set(wanted) - {spec.name for spec in specs}
        if unknown:
            sys.exit(f"unknown server(s): {', '.join(sorted(unknown))}")
        specs = [spec for spec in specs if spec.name in wanted]
    if args.plan == "deflate":
        plan = scenarios.deflate_plan()
    else:
        plan = scenarios.quick_plan() if args.quick else scenarios.full_plan()
    if args.only:
        prefixes = tuple(args.only.split(","))
        plan = [scenario for scenario in plan if scenario.key.startswith(prefixes)]

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    run_dir = OUT_DIR / stamp
    run_dir.mkdir(parents=True, exist_ok=True)
    results_path = run_dir / "results.jsonl"
    # One ECDSA P-256 certificate for every server in the TLS scenarios.
    tls_files = make_tls_files(run_dir / "tls") if any(scenario.tls for scenario in plan) else None
    meta = report.machine_info()
    meta.update(
        kind="meta",
        date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        command=" ".join(["bench/run.sh", *map(shlex.quote, sys.argv[1:])]),
        quick=args.quick,
        plan=args.plan,
        servers=[{"name": spec.name, "label": spec.label} for spec in specs],
        scenarios=[scenario.key for scenario in plan],
        repeats={scenario.key: args.repeat or scenario.repeat for scenario in plan},
        versions=report.versions(server_bin, wsrelay_bin),
    )
    records = []
    started = time.monotonic()
    with open(results_path, "w") as results_file:
        results_file.write(json.dumps(meta) + "\n")
        for scenario, rep, spec in interleaved(plan, specs, args.repeat):
            runs = args.repeat or scenario.repeat
            label = f"{scenario.key} on {spec.name}" + (f" (run {rep} of {runs})" if runs > 1 else "")
            log(f"{label} ...")
            record = run_one(wsrelay_bin, spec, scenario, run_dir, tls_files)
            record["rep"] = rep
            log(f"{label}: {describe(record)}")
            records.append(record)
            results_file.write(json.dumps(record) + "\n")
            results_file.flush()
    meta["total_minutes"] = round((time.monotonic() - started) / 60, 1)
    # Rewrite with the run's duration in the header line, for --from-results.
    results_path.write_text("".join(json.dumps(line) + "\n" for line in [meta, *records]))
    write_report(out_dir, meta, records)
    log(f"raw results in {results_path} ({meta['total_minutes']} min)")
    failures = [record for record in records if "error" in record]
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
