#!/usr/bin/env python3
"""`make bench-hop`: the cost of the hop through Redis, side by side.

(a) four relays, each on its own port with `--workers 1 --backplane` on one
    redis-server (started here on a free port); the publisher on node A, the
    subscribers spread evenly over the four nodes (A included);
(b) one relay with `--workers 4` and no backplane; the same publisher and
    subscribers, all on it.

Both are driven by `wsrelay bench fanout` (one publisher in the parent, the
subscribers in four client processes), in two regimes: as fast as the window
allows, and paced. Every run starts its own processes and stops them by PID,
also on failure. The setups alternate (a, b, then b, a, ...) over --runs runs.
Writes the "Cost of the hop" results in docs/scaling.md.

    bench/hop.sh                # 3 runs, then the section in docs/scaling.md
    bench/hop.sh --smoke        # 1 run, 100 subscribers, 1 s; fails on any loss; no doc
"""

import argparse
import ctypes
import json
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.dont_write_bytecode = True
from scale import git, machine  # noqa: E402 (bench/scale.py, beside this file)

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "scaling.md"
BEGIN = "<!-- bench-hop results: written by `make bench-hop` (bench/hop.py); do not edit by hand -->"
END = "<!-- end of bench-hop results -->"
ROOM = "/bench-hop"
NODES = 4
STOP_GRACE_S = 3
READY_LIMIT_S = 20
# One fanout run stops itself after its --timeout; this only backs that up.
FANOUT_WALL_S = 180
PR_SET_PDEATHSIG = 1
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", type=Path, default=REPO / "target" / "release" / "wsrelay")
    parser.add_argument("--redis-server", default="redis-server")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--size", default="64")
    parser.add_argument("--duration", default="5s")
    parser.add_argument("--rate", type=float, default=200.0, help="messages/s of the paced regime")
    parser.add_argument("--smoke", action="store_true", help="1 run, 100 subscribers, 1 s, no doc; fails on loss")
    args = parser.parse_args()
    if args.smoke:
        args.runs, args.subscribers, args.duration = 1, 100, "1s"
    return args


def log(message):
    print(f"[bench-hop {datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Stop(Exception):
    """SIGTERM, SIGINT or SIGHUP: unwind so that every process is stopped."""


def on_signal(signum, _frame):
    raise Stop(signal.Signals(signum).name)


def die_with_parent():
    """In the child before exec: SIGKILL when this script dies, however it dies."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Processes:
    """Every process one setup started, stopped by PID: SIGTERM, then SIGKILL."""

    def __init__(self):
        self.children = []
        self.dir = tempfile.mkdtemp(prefix="wsrelay-bench-hop-")

    def start(self, argv):
        env = dict(os.environ, RUST_LOG="warn")
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env,
                                 preexec_fn=die_with_parent)
        self.children.append(child)
        return child

    def exited(self):
        return next((f"{shlex.join(c.args[:2])} exited with {c.returncode}" for c in self.children
                     if c.poll() is not None), None)

    def stop(self):
        # A second signal must not cut the stopping short.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            self.stop_children()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def stop_children(self):
        for child in self.children:
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for child in self.children:
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.children.clear()
        for name in os.listdir(self.dir):
            os.remove(os.path.join(self.dir, name))
        os.rmdir(self.dir)


def free_ports(count):
    """`count` distinct free loopback ports, held together while chosen."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def exchange(port, request):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode("latin-1")


def healthy(port):
    try:
        return exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith("HTTP/1.1 200")
    except OSError:
        return False


def redis(port, command):
    return exchange(port, f"{command}\r\nQUIT\r\n".encode())


def publish_calls(port):
    """`calls=` of cmdstat_publish in Redis's own INFO commandstats."""
    for line in redis(port, "INFO commandstats").splitlines():
        if line.startswith("cmdstat_publish:calls="):
            return int(line.split("=", 1)[1].split(",", 1)[0])
    return 0


def cpu_ms(pid):
    """utime + stime of /proc/PID/stat, ms."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def wait_until(ready, what, processes):
    deadline = time.monotonic() + READY_LIMIT_S
    while not ready():
        if exited := processes.exited():
            raise RuntimeError(exited)
        if time.monotonic() >= deadline:
            raise RuntimeError(f"{what} not ready after {READY_LIMIT_S} s")
        time.sleep(0.05)


class Setup:
    """The relays (and Redis) of one measurement, and the fanout flags that drive them."""

    def __init__(self, args, backplane):
        self.args, self.backplane, self.processes = args, backplane, Processes()
        self.redis_port = self.redis_pid = None
        self.relay_pids, self.fanout_flags = [], []

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.processes.stop()
            raise
        return self

    def __exit__(self, *_):
        self.processes.stop()

    def start(self):
        nodes = NODES if self.backplane else 1
        ports = free_ports(1 + 2 * nodes)
        serve = [str(self.args.bin), "serve", "--workers", "1" if self.backplane else str(NODES)]
        if self.backplane:
            self.redis_port = ports.pop()
            redis_argv = [self.args.redis_server, "--port", str(self.redis_port), "--bind", "127.0.0.1",
                          "--save", "", "--appendonly", "no", "--dir", self.processes.dir]
            self.redis_pid = self.processes.start(redis_argv).pid
            wait_until(lambda: self.redis_answers(), "redis-server", self.processes)
            serve += ["--backplane", f"redis://127.0.0.1:{self.redis_port}"]
        listens, admins = ports[:nodes], ports[nodes:2 * nodes]
        for listen, admin in zip(listens, admins):
            argv = serve + ["--listen", f"127.0.0.1:{listen}", "--admin-listen", f"127.0.0.1:{admin}"]
            self.relay_pids.append(self.processes.start(argv).pid)
        for admin in admins:
            wait_until(lambda: healthy(admin), f"relay on admin port {admin}", self.processes)
        self.fanout_flags = fanout_flags(listens, admins if self.backplane else [], self.relay_pids)

    def redis_answers(self):
        try:
            return redis(self.redis_port, "PING").startswith("+PONG")
        except OSError:
            return False


def fanout_flags(listens, admins, pids):
    """The publisher on the first relay, the subscribers spread over all of them."""
    flags = ["--url", f"ws://127.0.0.1:{listens[0]}{ROOM}"]
    flags += [arg for listen in listens for arg in ("--subscriber-url", f"ws://127.0.0.1:{listen}{ROOM}")]
    flags += [arg for admin in admins for arg in ("--wait-subscribed", f"127.0.0.1:{admin}")]
    return flags + [arg for pid in pids for arg in ("--server-pid", str(pid))]


def fanout_argv(args, flags, rate):
    argv = [str(args.bin), "bench", "fanout", *flags, "--subscribers", str(args.subscribers),
            "--size", args.size, "--duration", args.duration, "--procs", str(NODES), "--timeout", "2m",
            "--json-only"]
    return argv + (["--rate", f"{rate:g}"] if rate else [])


def measure(args, backplane, rate):
    """One fanout run against a fresh setup; always returns a record."""
    record = {"setup": "backplane" if backplane else "single", "rate": rate}
    try:
        with Setup(args, backplane) as setup:
            argv = fanout_argv(args, setup.fanout_flags, rate)
            record["argv"] = shlex.join(["wsrelay", *argv[1:]])
            redis_cpu = cpu_ms(setup.redis_pid) if backplane else None
            done = subprocess.run(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                  timeout=FANOUT_WALL_S, preexec_fn=die_with_parent)
            lines = [line for line in done.stdout.splitlines() if line.startswith('{"scenario":')]
            record["result"] = json.loads(lines[-1]) if lines else None
            if done.returncode != 0:
                record["error"] = f"fanout exited with {done.returncode}"
            if backplane:
                record["redis_cpu_ms"] = cpu_ms(setup.redis_pid) - redis_cpu
                record["redis_publish_calls"] = publish_calls(setup.redis_port)
            if exited := setup.processes.exited():
                record["error"] = exited
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as error:
        record["error"] = str(error)
    return record


def run_all(args):
    regimes = [None, args.rate]
    runs = []
    for run in range(args.runs):
        order = (True, False) if run % 2 == 0 else (False, True)
        for rate in regimes:
            pair = {}
            for backplane in order:
                name = "backplane" if backplane else "single"
                log(f"run {run + 1}/{args.runs}, {'paced ' + format(rate, 'g') + ' msg/s' if rate else 'window'}, {name}")
                pair[name] = measure(args, backplane, rate)
                log(summary(pair[name]))
            runs.append({"run": run + 1, "rate": rate, **pair})
    return runs


def summary(record):
    r = record.get("result") or {}
    text = (f"  {r.get('delivered_per_sec', 0):,.0f} deliveries/s, p99 {(r.get('p99_us') or 0) / 1000:.2f} ms, "
            f"sent {r.get('sent', 0):,}, lost {r.get('lost', 0):,}")
    if "redis_publish_calls" in record:
        text += f", Redis PUBLISH {record['redis_publish_calls']:,}"
    return text + (f"; ERROR {record['error']}" if "error" in record else "")


def failures(runs):
    found = []
    for run in runs:
        for name in ("backplane", "single"):
            record = run[name]
            r = record.get("result") or {}
            problems = r.get("problems") or []
            if "error" in record or not r or r.get("lost") or problems:
                found.append(f"run {run['run']} {name}: {record.get('error') or problems or 'lost ' + str(r.get('lost'))}")
    return found


# ---- the section in docs/scaling.md --------------------------------------------------------


def host(load_before):
    return f"{machine()}; load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"


def figures(record):
    """The compared figures of one record, None where missing."""
    r = record.get("result") or {}
    subscribers = r.get("subscribers") or 0
    per_sec = r.get("delivered_per_sec")
    p50_s = (r.get("p50_us") or 0) / 1e6
    return {
        "per_sec": per_sec,
        "p99_ms": r["p99_us"] / 1000 if r.get("p99_us") is not None else None,
        "cpu_us": r.get("server_cpu_per_delivered_us"),
        # Little's law: messages in flight per subscriber ~ messages/s x median latency.
        "in_flight": per_sec / subscribers * p50_s if per_sec and subscribers else None,
        "sent": r.get("sent"),
        "lost": r.get("lost"),
        "publish": record.get("redis_publish_calls"),
        "redis_us": (record["redis_cpu_ms"] * 1000 / r["sent"]) if r.get("sent") and "redis_cpu_ms" in record else None,
    }


def spread(values, pattern):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    low, mid, high = min(values), statistics.median(values), max(values)
    if len(values) == 1 or pattern.format(low) == pattern.format(high):
        return pattern.format(mid)
    return f"{pattern.format(mid)} ({pattern.format(low)} .. {pattern.format(high)})"


def ratios(pairs, key):
    return [b[key] / s[key] for b, s in pairs if b[key] is not None and s[key]]


def regime_table(runs, rate):
    pairs = [(figures(run["backplane"]), figures(run["single"])) for run in runs if run["rate"] == rate]
    rows = [
        ("delivered msg/s (Σ over subscribers)", "per_sec", "{:,.0f}"),
        ("p99 latency, ms", "p99_ms", "{:,.2f}"),
        ("relay CPU per delivery, µs (Σ relays)", "cpu_us", "{:,.3f}"),
        ("messages in flight per subscriber (≈ msg/s × p50)", "in_flight", "{:,.1f}"),
    ]
    lines = ["| | (a) 4 nodes + Redis | (b) single node | (a) / (b) |", "|---|---|---|---|"]
    for label, key, pattern in rows:
        lines.append(f"| {label} | {spread([b[key] for b, _ in pairs], pattern)} | "
                     f"{spread([s[key] for _, s in pairs], pattern)} | {spread(ratios(pairs, key), '{:.2f}')} |")
    for label, key in (("messages published", "sent"), ("deliveries lost", "lost")):
        lines.append(f"| {label} | {spread([b[key] for b, _ in pairs], '{:,.0f}')} | "
                     f"{spread([s[key] for _, s in pairs], '{:,.0f}')} | |")
    publishes = [f"{b['publish']:,} for {b['sent']:,}" for b, _ in pairs if b["publish"] is not None]
    lines.append(f"| Redis PUBLISH calls (INFO commandstats) | {'; '.join(publishes) or '-'} | none | |")
    lines.append(f"| Redis CPU per message, µs | {spread([b['redis_us'] for b, _ in pairs], '{:,.1f}')} | | |")
    return lines


def commands(args):
    """The two fanout commands, ports and PIDs by name: A is the publisher's relay."""
    nodes = "ABCD"[:NODES]
    backplane = fanout_flags([f"<{n}>" for n in nodes], [f"<admin {n}>" for n in nodes], [f"<pid {n}>" for n in nodes])
    single = fanout_flags(["<S>"], [], ["<pid S>"])
    show = lambda flags: shlex.join(["wsrelay", *fanout_argv(args, flags, None)[1:]]).replace("'", "")
    return show(backplane), show(single)


def section(args, runs, started, load_before):
    count = len({run["run"] for run in runs})
    backplane_command, single_command = commands(args)
    out = [
        BEGIN,
        "",
        f"`make bench-hop` ({started}, commit {git('rev-parse', '--short', 'HEAD')}, {count} run{'s' * (count != 1)}; "
        f"{host(load_before)}). Each cell: median (min .. max) over the runs; the ratio is taken within each run, "
        "then its median and spread. Every run started its own processes.",
        "",
        f"Window regime: the publisher sends as fast as it may, at most 64 messages ahead of the slowest subscriber "
        f"({args.subscribers:,} subscribers, {args.size}-byte messages, {args.duration}):",
        "",
        *regime_table(runs, None),
        "",
        f"Paced regime: {args.rate:g} messages/s ({args.rate * args.subscribers:,.0f} deliveries/s), otherwise the same:",
        "",
        *regime_table(runs, args.rate),
        "",
        "The fanout commands (ports and PIDs by name; the paced regime adds "
        f"`--rate {args.rate:g}`):",
        "",
        f"- (a) `{backplane_command}`",
        f"- (b) `{single_command}`",
    ]
    if problems := failures(runs):
        out += ["", "Problems: " + "; ".join(problems) + "."]
    return "\n".join(out + ["", END])


def write_doc(text):
    doc = DOC.read_text()
    if BEGIN in doc:
        head, rest = doc.split(BEGIN, 1)
        doc = head + text + rest.split(END, 1)[1]
    else:
        doc = doc.rstrip("\n") + "\n\n" + text + "\n"
    DOC.write_text(doc)


def main():
    args = parse_args()
    for signum in STOP_SIGNALS:
        signal.signal(signum, on_signal)
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load_before = os.getloadavg()[0]
    try:
        runs = run_all(args)
    except Stop as stop:
        log(f"stopped by {stop}; every process was stopped")
        return 1
    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "hop.json").write_text(json.dumps(runs, indent=1) + "\n")
    problems = failures(runs)
    for problem in problems:
        log(f"FAILED: {problem}")
    if args.smoke:
        return 1 if problems else 0
    write_doc(section(args, runs, started, load_before))
    log(f"wrote {DOC.relative_to(REPO)} (raw records in bench/out/hop.json)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
