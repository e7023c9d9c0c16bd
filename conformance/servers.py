"""Which servers the suite knows, and how to run one as a subprocess without ever leaking it.

A server is a command line with a `{port}` placeholder; the suite picks a free port, starts the
command in its own process group, waits until the port accepts connections, and in every case
(success, failure, Ctrl-C) terminates the group and kills it after a grace period. Peers are
optional: a peer whose Python package is missing is reported as unavailable, never installed.
This module must never import a peer server itself (they are not dependencies).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
APP = "conformance.echo_app:app"
START_TIMEOUT = 15.0
STOP_GRACE = 5.0


@dataclass(frozen=True)
class ServerSpec:
    name: str
    command: str  # shell-style words; `{python}`, `{app}` and `{port}` are substituted
    module: str | None = None  # Python package that must be importable, if any
    lenient_command: str | None = None  # same server in lenient-LF mode, when it has one

    def available(self) -> bool:
        if self.module is None:
            return True
        return importlib.util.find_spec(self.module) is not None


PY = "{python}"
KNOWN: dict[str, ServerSpec] = {
    spec.name: spec
    for spec in (
        ServerSpec(
            "moreweb",
            f"{PY} -m moreweb {{app}} --host 127.0.0.1 --port {{port}} --lifespan on",
            "moreweb.__main__",
            f"{PY} -m moreweb {{app}} --host 127.0.0.1 --port {{port}} --lifespan on"
            " --lenient-lf",
        ),
        ServerSpec(
            "uvicorn-h11",
            f"{PY} -m uvicorn {{app}} --host 127.0.0.1 --port {{port}} --http h11"
            " --lifespan on --log-level warning",
            "h11",
        ),
        ServerSpec(
            "uvicorn-httptools",
            f"{PY} -m uvicorn {{app}} --host 127.0.0.1 --port {{port}} --http httptools"
            " --lifespan on --log-level warning",
            "httptools",
        ),
        ServerSpec(
            "hypercorn",
            f"{PY} -m hypercorn {{app}} --bind 127.0.0.1:{{port}} --log-level warning",
            "hypercorn",
        ),
        ServerSpec(
            "granian",
            f"{PY} -m granian --interface asgi --http 1 --host 127.0.0.1 --port {{port}}"
            " --log-level warning {app}",
            "granian",
        ),
    )
}


def resolve(name_or_command: str) -> ServerSpec:
    """A known server by name, or any command line containing `{port}`."""
    if name_or_command in KNOWN:
        spec = KNOWN[name_or_command]
        if name_or_command.startswith("uvicorn") and importlib.util.find_spec("uvicorn") is None:
            return ServerSpec(spec.name, spec.command, "uvicorn")
        return spec
    if "{port}" not in name_or_command:
        known = ", ".join(KNOWN)
        raise ValueError(f"unknown server {name_or_command!r}: use one of {known} "
                         "or a command containing {port}")
    return ServerSpec(name_or_command.split()[0].rsplit("/", 1)[-1], name_or_command)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


class ServerFailed(RuntimeError):
    """The server did not start (or died); the message carries the tail of its output."""


@dataclass
class RunningServer:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    lifespan_log: Path

    def output_tail(self, limit: int = 2000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-limit:]
        return ""

    def lifespan_events(self) -> list[str]:
        with contextlib.suppress(OSError):
            return self.lifespan_log.read_text().split()
        return []


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_GRACE)
    # Workers a server forked stay in the group; make sure none outlives the leader.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def running(spec: ServerSpec, *, lenient: bool = False,
            workdir: Path | None = None) -> Iterator[RunningServer]:
    """Start `spec` on a free port; yield once it accepts connections; always stop it."""
    template = spec.lenient_command if lenient and spec.lenient_command else spec.command
    port = free_port()
    command = [word.replace("{python}", sys.executable).replace("{app}", APP)
               .replace("{port}", str(port)) for word in shlex.split(template)]
    scratch = Path(tempfile.mkdtemp(prefix="conformance-", dir=workdir))
    log_path = scratch / "server.log"
    lifespan_log = scratch / "lifespan.log"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["CONFORMANCE_LIFESPAN_LOG"] = str(lifespan_log)
    env["PYTHONUNBUFFERED"] = "1"
    with open(log_path, "wb") as log:
        # No shell: the process we signal must be the server itself, so that its graceful
        # shutdown (and lifespan.shutdown) runs before we stop waiting for it.
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    server = RunningServer(spec.name, port, process, log_path, lifespan_log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _accepts(port):
            if process.poll() is not None:
                raise ServerFailed(f"{spec.name} exited with {process.returncode} before "
                                   f"accepting connections:\n{server.output_tail()}")
            if time.monotonic() > deadline:
                raise ServerFailed(f"{spec.name} did not accept connections within "
                                   f"{START_TIMEOUT:.0f}s:\n{server.output_tail()}")
            time.sleep(0.05)
        yield server
    finally:
        _stop(process)
