"""The servers under test and a guard that runs one of them on a free port.

Each server is started as its own process (the PID whose RSS and CPU the load
generator reads), with its file-descriptor soft limit raised to the hard one,
as anyone deploying a WebSocket server would, and killed by PID afterwards,
also when the benchmark fails half-way.
"""

import os
import resource
import socket
import ssl
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
    # How it serves TLS: extra argv and environment ({cert} and {key} are
    # replaced by the PEM files); None when it is not measured over TLS.
    tls_argv: list = None
    tls_env: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TlsFiles:
    """A CA and a leaf for localhost and 127.0.0.1 (ECDSA P-256), in PEM."""

    ca: Path
    cert: Path
    key: Path


def make_tls_files(directory):
    """Makes the one certificate every server serves in the TLS scenarios, with openssl."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    cert, key, csr = directory / "cert.pem", directory / "key.pem", directory / "leaf.csr"
    ext = directory / "leaf.ext"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for argv in (
        ["openssl", "req", "-x509", *curve, "-keyout", ca_key, "-out", ca, "-days", "2",
         "-subj", "/CN=wsrelay bench CA"],
        ["openssl", "req", *curve, "-keyout", key, "-out", csr, "-subj", "/CN=localhost"],
        ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", "2", "-extfile", ext],
    ):
        subprocess.run([str(part) for part in argv], check=True, capture_output=True, stdin=subprocess.DEVNULL)
    return TlsFiles(ca=ca, cert=cert, key=key)


def server_specs(wsrelay_bin):
    """All servers of the side-by-side run, wsrelay first, in report order."""
    return [
        ServerSpec(
            "wsrelay",
            "wsrelay",
            [str(wsrelay_bin), "--listen", "127.0.0.1:{port}"],
            # Per-connection info logs would be measured, not the relay.
            env={"RUST_LOG": "warn"},
            tls_argv=["--tls-cert", "{cert}", "--tls-key", "{key}"],
        ),
        ServerSpec(
            "uws",
            "uWebSockets.js",
            ["node", "server.js"],
            cwd=PEERS_DIR / "uws",
            tls_argv=[],
            tls_env={"TLS_CERT_FILE": "{cert}", "TLS_KEY_FILE": "{key}"},
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

    def __init__(self, spec, log_path, ready_timeout=20.0, tls=None, env=None):
        self.spec = spec
        # TlsFiles to serve https:// and wss:// with, or None.
        self.tls = tls
        # Environment for this run only (a scenario's WS_DEFLATE=1).
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
        if self.tls:
            return f"wss://localhost:{self.port}/"
        return f"ws://127.0.0.1:{self.port}/"

    def _fill(self, text):
        text = text.replace("{port}", str(self.port))
        if self.tls:
            text = text.replace("{cert}", str(self.tls.cert)).replace("{key}", str(self.tls.key))
        return text

    def __enter__(self):
        argv = list(self.spec.argv) + (list(self.spec.tls_argv) if self.tls else [])
        argv = [self._fill(part) for part in argv]
        extra_env = dict(self.spec.env, **(self.spec.tls_env if self.tls else {}), **self.extra_env)
        env = dict(os.environ, PORT=str(self.port), HOST="127.0.0.1",
                   **{name: self._fill(value) for name, value in extra_env.items()})
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
            # Over TLS, by the name in the certificate.
            root = f"https://localhost:{self.port}/" if self.tls else f"http://127.0.0.1:{self.port}/"
            context = ssl.create_default_context(cafile=str(self.tls.ca)) if self.tls else None
            try:
                with urllib.request.urlopen(root, timeout=1, context=context) as reply:
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
