"""The servers under test and a guard that runs one of them on a free port.

Each server is started as its own process (the PID whose RSS and CPU the load
generator reads), with its file-descriptor soft limit raised to the hard one,
as anyone deploying a WebSocket server would, and killed by PID afterwards,
also when the benchmark fails half-way.
"""

import os
import resource
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
PEERS_DIR = BENCH_DIR / "peers"


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server; `{port}` in argv is replaced by the port."""

    name: str
    label: str
    argv: list
    cwd: Path = REPO_DIR
    env: dict = field(default_factory=dict)


def server_specs(wsrelay_bin):
    """All servers of the side-by-side run, wsrelay first, in report order."""
    return [
        ServerSpec(
            "wsrelay",
            "wsrelay",
            [str(wsrelay_bin), "--listen", "127.0.0.1:{port}"],
            # Per-connection info logs would be measured, not the relay.
            env={"RUST_LOG": "warn"},
        ),
        ServerSpec(
            "uws",
            "uWebSockets.js",
            ["node", "server.js"],
            cwd=PEERS_DIR / "uws",
        ),
        ServerSpec(
            "tokio-tungstenite",
            "tokio-tungstenite",
            [str(PEERS_DIR / "tokio-tungstenite/target/release/peer-tokio-tungstenite")],
        ),
        ServerSpec(
            "node-ws",
            "Node ws + express",
            ["node", "server.js"],
            cwd=PEERS_DIR / "node-ws",
        ),
    ]


def raise_fd_limit():
    """Raise this process's descriptor soft limit to the hard one (inherited by children)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fd_hard_limit(pid):
    """The hard 'Max open files' limit of a running process, or None."""
    try:
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                hard = line.split()[4]
                return None if hard == "unlimited" else int(hard)
    except OSError:
        pass
    return None


class RunningServer:
    """Context manager: starts a server, waits until `GET /` answers, kills it on exit."""

    def __init__(self, spec, log_path, ready_timeout=20.0, env=None):
        self.spec = spec
        self.extra_env = env or {}
        self.log_path = log_path
        self.ready_timeout = ready_timeout
        self.port = free_port()
        self.process = None

    @property
    def pid(self):
        return self.process.pid

    @property
    def url(self):
        return f"ws://127.0.0.1:{self.port}/"

    def __enter__(self):
        argv = [part.replace("{port}", str(self.port)) for part in self.spec.argv]
        env = dict(os.environ, PORT=str(self.port), HOST="127.0.0.1", **self.spec.env, **self.extra_env)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                argv,
                cwd=self.spec.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def _wait_ready(self):
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.spec.name} exited with {self.process.returncode} at start; see {self.log_path}"
                )
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=1) as reply:
                    if reply.read() == b"Hello, World!":
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.spec.name} did not answer GET / within {self.ready_timeout:.0f}s")

    def stop(self):
        """Terminate the server by PID, then kill it if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
