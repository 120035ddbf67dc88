"""The scenarios of the side-by-side run, as `wsrelay bench` arguments.

Full-speed fan-outs publish for a fixed time (`--duration`) with a message
cap far above what any server delivers in it, so that the slowest server
costs no more time than the fastest and a full `make bench` stays well under
twenty minutes on a 2-core host.

Two regimes (docs/benchmarks.md, "Two regimes"): the deep pipeline (the
generator's defaults: 64 messages in flight, several client processes, 256
handshakes in flight each) and the bounded window (16 messages in flight,
one client process, 64 handshakes in flight, each run repeated). The
bounded scenarios are told apart by their keys: `idle-N-cC`, `fanout-wW-N`,
`steady-NxR` (see `is_bounded`).
"""

import re
from dataclasses import dataclass, replace

MESSAGE_SIZE = 64
# A server process here may hold at most 20,000 descriptors: 19,000
# connections leave room for the listener, logs and the like.
IDLE_CONNECTIONS = 19_000
LARGE_IDLE_CONNECTIONS = 30_000
# Descriptors a server needs beyond its connections (listener, epoll, stdio...).
FD_HEADROOM = 200


@dataclass(frozen=True)
class Scenario:
    """One `wsrelay bench` invocation; `key` names it in results and reports."""

    key: str
    kind: str
    args: tuple
    # Run only if the server process may hold this many descriptors.
    needs_fds: int = 0
    # Seconds the generator may take before it is killed.
    timeout_s: int = 240
    # Environment of the server process (WS_DEFLATE=1 turns the peers' permessage-deflate on).
    server_env: tuple = ()
    # Only these servers (by name); all when empty.
    servers: tuple = ()
    # Over TLS (wss://, every server with the same ECDSA P-256 certificate);
    # only servers that serve TLS in bench/servers.py run it.
    tls: bool = False
    # Runs per server (bench/run.py --repeat overrides it); the report shows
    # the median and the spread.
    repeat: int = 1

    def subscribers(self):
        return _arg_value(self.args, "--subscribers")

    def connections(self):
        return _arg_value(self.args, "--connections")

    def rate(self):
        return _arg_value(self.args, "--rate")


def _arg_value(args, flag):
    if flag in args:
        return int(args[args.index(flag) + 1])
    return None


def idle(connections, hold="2s"):
    return Scenario(
        key=f"idle-{connections}",
        kind="idle",
        args=("--connections", str(connections), "--hold", hold, "--timeout", "180s"),
        needs_fds=connections + FD_HEADROOM,
    )


def fanout(subscribers, seconds, max_messages=10_000_000):
    """Fan-out as fast as the generator's window allows, for `seconds`."""
    return Scenario(
        key=f"fanout-{subscribers}",
        kind="fanout",
        args=(
            "--subscribers", str(subscribers),
            "--size", str(MESSAGE_SIZE),
            "--messages", str(max_messages),
            "--duration", f"{seconds}s",
            "--timeout", "180s",
        ),
        needs_fds=subscribers + 1 + FD_HEADROOM,
    )


def fixed_rate(subscribers, rate, seconds):
    """Fan-out paced at `rate` messages/s: every server gets the same load, so p99 compares."""
    return Scenario(
        key=f"rate-{subscribers}x{rate}",
        kind="fanout",
        args=(
            "--subscribers", str(subscribers),
            "--size", str(MESSAGE_SIZE),
            "--rate", str(rate),
            "--messages", str(rate * seconds),
            # The message count ends the run; the duration is only a backstop.
            "--duration", f"{seconds * 2}s",
            "--timeout", "120s",
        ),
        needs_fds=subscribers + 1 + FD_HEADROOM,
    )


# The permessage-deflate scenarios: servers that speak it, compressing peers on.
DEFLATE_SERVERS = ("wsrelay", "uws", "node-ws")
DEFLATE_ENV = (("WS_DEFLATE", "1"),)
JSON_SIZE = "4KiB"
DEFLATE_IDLE_CONNECTIONS = 10_000


def deflate_idle(connections, offer):
    """Idle memory with every connection offering permessage-deflate (or none)."""
    suffix = "-deflate" if offer else "-plain"
    return Scenario(
        key=f"idle-{connections}{suffix}",
        kind="idle",
        args=("--connections", str(connections), "--hold", "2s", "--timeout", "180s",
              *(("--deflate",) if offer else ())),
        needs_fds=connections + FD_HEADROOM,
        server_env=DEFLATE_ENV,
        servers=DEFLATE_SERVERS,
    )


def deflate_fanout(subscribers, seconds, offer=True):
    """Compressible JSON of 1-4 KiB to subscribers that all negotiated
    permessage-deflate (or, without `offer`, none did: the same load plain)."""
    return Scenario(
        key=f"fanout-json-{'deflate' if offer else 'plain'}-{subscribers}",
        kind="fanout",
        args=(
            "--subscribers", str(subscribers),
            "--size", JSON_SIZE,
            "--json",
            *(("--deflate",) if offer else ()),
            "--messages", "10000000",
            "--duration", f"{seconds}s",
            "--timeout", "180s",
        ),
        needs_fds=subscribers + 1 + FD_HEADROOM,
        server_env=DEFLATE_ENV,
        servers=DEFLATE_SERVERS,
    )


def deflate_plan():
    """`bench/run.sh --plan deflate`: permessage-deflate side by side."""
    return [
        deflate_idle(DEFLATE_IDLE_CONNECTIONS, offer=False),
        deflate_idle(DEFLATE_IDLE_CONNECTIONS, offer=True),
        deflate_fanout(1_000, 10, offer=False),
        deflate_fanout(1_000, 10),
        deflate_fanout(5_000, 10),
    ]
# TLS idle connections: every one a full TLS 1.3 handshake (the generator
# resumes no session), so this also measures handshakes/s.
TLS_IDLE_CONNECTIONS = 10_000


def tls_idle(connections, hold="2s"):
    """Idle connections over wss://: memory per TLS connection and full handshakes/s."""
    return over_tls(idle(connections, hold))


def tls_fanout(subscribers, seconds, max_messages=10_000_000):
    """Fan-out over wss:// as fast as the generator's window allows, for `seconds`."""
    return over_tls(fanout(subscribers, seconds, max_messages))


def over_tls(plain):
    """The same scenario over wss://, named `tls-<key>`."""
    return replace(plain, key=f"tls-{plain.key}", tls=True)


# The bounded regime: the publisher keeps at most BOUNDED_WINDOW messages in
# flight, all subscribers live in one client process, which opens connections
# BOUNDED_CONCURRENCY at a time; each scenario runs BOUNDED_REPEAT times per server.
BOUNDED_WINDOW = 16
BOUNDED_CONCURRENCY = 64
BOUNDED_REPEAT = 3
_BOUNDED_KEY = re.compile(r"^(idle-\d+-c\d+|fanout-w\d+-\d+|steady-\d+x\d+)$")


def is_bounded(key):
    """True for the scenarios of the bounded regime, by their key."""
    return bool(_BOUNDED_KEY.match(key))


def bounded(plain, key, window=BOUNDED_WINDOW, repeat=BOUNDED_REPEAT):
    """`plain` from one client process with BOUNDED_CONCURRENCY handshakes in
    flight and, for a fan-out, at most `window` messages in flight; named `key`."""
    extra = ("--procs", "1", "--concurrency", str(BOUNDED_CONCURRENCY))
    if plain.kind == "fanout":
        extra = ("--window", str(window), *extra)
    return replace(plain, key=key, args=(*plain.args, *extra), repeat=repeat)


def bounded_idle(connections, hold="2s", repeat=BOUNDED_REPEAT):
    """Idle connections opened by one client process, BOUNDED_CONCURRENCY at a time."""
    return bounded(idle(connections, hold), f"idle-{connections}-c{BOUNDED_CONCURRENCY}", repeat=repeat)


def bounded_fanout(subscribers, seconds, repeat=BOUNDED_REPEAT):
    """Fan-out with at most BOUNDED_WINDOW messages in flight, for `seconds`, all
    subscribers in one client process."""
    return bounded(fanout(subscribers, seconds), f"fanout-w{BOUNDED_WINDOW}-{subscribers}", repeat=repeat)


def steady(subscribers, rate, seconds, repeat=BOUNDED_REPEAT):
    """`rate` msg/s to `subscribers` for `seconds` from one client process (window
    64, rarely reached at this pace): server CPU and tail latency at a steady load."""
    return bounded(fixed_rate(subscribers, rate, seconds), f"steady-{subscribers}x{rate}", window=64, repeat=repeat)


def bounded_plan():
    """The bounded regime of `make bench`."""
    return [
        bounded_idle(9_000),
        bounded_fanout(100, 10),
        bounded_fanout(1_000, 10),
        bounded_fanout(5_000, 10),
        steady(100, 200, 30),
    ]


def full_plan():
    """The `make bench` scenarios: the deep pipeline, then the bounded window."""
    return [
        idle(IDLE_CONNECTIONS),
        idle(LARGE_IDLE_CONNECTIONS),
        fanout(100, 10),
        fanout(1_000, 10),
        fanout(5_000, 10),
        # 50k deliveries/s: within what every server sustains here.
        fixed_rate(1_000, 50, 10),
        tls_idle(TLS_IDLE_CONNECTIONS),
        tls_fanout(1_000, 10),
        *bounded_plan(),
    ]


def quick_plan():
    """A smoke run of every scenario kind in about a minute."""
    return [
        idle(2_000, hold="1s"),
        fanout(100, 2),
        fanout(500, 2),
        fixed_rate(100, 100, 3),
        tls_idle(1_000, hold="1s"),
        tls_fanout(100, 2),
        # The bounded regime, small; two runs each so that the folding of
        # repetitions is exercised too.
        bounded_idle(2_000, hold="1s", repeat=2),
        bounded_fanout(100, 2, repeat=2),
        steady(100, 50, 3, repeat=2),
    ]
