"""How to start, check, measure and stop each benchmarked server as a subprocess.

One `ServerKind` per server (moreweb, uvicorn with httptools or h11, hypercorn, granian) knows
its command line; `serve()` starts it on a free loopback port in its own session, waits until it
answers a real request correctly, and always kills the whole process tree on the way out.
Peak memory is read from /proc (VmHWM, summed over the server's processes: granian forks
workers).

It must never leave a process behind, never signal a process it did not start, and never make a
peer server a dependency: a kind whose modules are missing reports why and is skipped.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"

#: ASGI app name -> import string every server is given.
APPS = {
    "hello": "bench.apps:hello",
    "echo": "bench.apps:echo",
    "starlette": "bench.apps:starlette_json",
}

LOOPS = ("asyncio", "uvloop")


@dataclass(frozen=True)
class ServerKind:
    """A server that can be benchmarked, and the command line that starts it."""

    key: str
    requires: tuple[str, ...]  # importable modules it needs (uvloop is added per loop)

    def label(self, loop: str) -> str:
        return self.key if loop == "asyncio" else f"{self.key}+uvloop"

    def missing(self, loop: str = "asyncio") -> list[str]:
        """Modules that are not installed (empty: the server can run with this loop)."""
        needed = [*self.requires, *(("uvloop",) if loop == "uvloop" else ())]
        return [m for m in needed if importlib.util.find_spec(m) is None]

    def command(self, app: str, port: int | str, loop: str = "asyncio",
                idle_timeout: int | None = None) -> list[str]:
        """The argv that serves `app` (an import string) on HOST:`port` with `loop`.

        `idle_timeout` raises the keep-alive idle timeout (seconds) for the idle-connections
        scenario, where every server's default (uvicorn: 5 s) would close connections while
        they are still being counted.
        """
        py = sys.executable
        if self.key == "moreweb":
            argv = [py, "-m", "moreweb", app, "--host", HOST, "--port", str(port),
                    "--no-access-log", "--loop", loop]
            if idle_timeout is not None:
                argv += ["--timeout-keep-alive", str(idle_timeout)]
            return argv
        if self.key in ("uvicorn-httptools", "uvicorn-h11"):
            http = self.key.split("-", 1)[1]
            argv = [py, "-m", "uvicorn", app, "--host", HOST, "--port", str(port),
                    "--http", http, "--loop", loop, "--no-access-log", "--log-level", "warning"]
            if idle_timeout is not None:
                argv += ["--timeout-keep-alive", str(idle_timeout)]
            return argv
        if self.key == "hypercorn":
            argv = [py, "-m", "hypercorn", "--bind", f"{HOST}:{port}", "--workers", "1",
                    "--worker-class", loop, "--log-level", "warning"]
            if idle_timeout is not None:
                argv += ["--keep-alive", str(idle_timeout)]
            return [*argv, app]
        if self.key == "granian":
            argv = [py, "-m", "granian", "--interface", "asgi", "--host", HOST,
                    "--port", str(port), "--workers", "1", "--http", "1", "--loop", loop,
                    "--log-level", "warning"]
            if idle_timeout is not None:
                # hyper's header-read timer also bounds idle keep-alive connections (60 s max),
                # and granian's backpressure (default 1024) counts idle connections too.
                argv += ["--http1-header-read-timeout", str(min(idle_timeout, 60) * 1000),
                         "--backpressure", "100000"]
            return [*argv, app]
        raise ValueError(f"unknown server {self.key!r}")


KINDS: dict[str, ServerKind] = {
    k.key: k
    for k in (
        ServerKind("moreweb", ("moreweb.__main__",)),
        ServerKind("uvicorn-httptools", ("uvicorn", "httptools")),
        ServerKind("uvicorn-h11", ("uvicorn", "h11")),
        ServerKind("hypercorn", ("hypercorn",)),
        ServerKind("granian", ("granian",)),
    )
}

#: The server every ratio is measured against.
BASELINE = "uvicorn-httptools"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# --- /proc --------------------------------------------------------------------------------------


def _session_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 2 (comm) may hold spaces and parentheses: split after the last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[3])  # state, ppid, pgrp, session


def session_pids(sid: int) -> list[int]:
    """Every live process in session `sid` (a server started with start_new_session)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _session_of(int(entry)) == sid:
            pids.append(int(entry))
    return pids


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Memory:
    """Resident memory of a server's processes, in KiB."""

    rss_kib: int
    peak_kib: int


def memory_of(sid: int) -> Memory:
    pids = session_pids(sid)
    return Memory(sum(_status_kib(p, "VmRSS") for p in pids),
                  sum(_status_kib(p, "VmHWM") for p in pids))


# --- running ------------------------------------------------------------------------------------


class ServerError(RuntimeError):
    """The server did not start, or answered wrongly; the message carries its log's tail."""


@dataclass
class RunningServer:
    kind: ServerKind
    loop: str
    app: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    argv: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.kind.label(self.loop)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def memory(self) -> Memory:
        return memory_of(self.process.pid)

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _wait_for_port(server: RunningServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.log_tail()
            last = tail.splitlines()[-1].strip() if tail.strip() else "no output"
            raise ServerError(f"{server.label} exited with {server.process.returncode}: "
                              f"{last}\n{tail}")
        try:
            with socket.create_connection((HOST, server.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise ServerError(f"{server.label} did not listen within {timeout:g} s:\n{server.log_tail()}")


def check_app(port: int, app: str, timeout: float = 5.0) -> str | None:
    """Send one real request for `app`; None if the answer is right, else what was wrong."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        if app == "echo":
            body = bytes(range(256)) * 16
            conn.request("POST", "/", body=body,
                         headers={"content-type": "application/octet-stream"})
            expected: object = body
        else:
            conn.request("GET", "/")
            expected = b"Hello, world!" if app == "hello" else {"message": "Hello, world!"}
        response = conn.getresponse()
        got = response.read()
        if response.status != 200:
            return f"status {response.status}"
        if app == "starlette":
            return None if json.loads(got) == expected else f"body {got[:80]!r}"
        return None if got == expected else f"body {got[:80]!r}"
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()


#: Servers started and not yet stopped: stop_all() ends them whatever interrupted the run.
_LIVE: set[subprocess.Popen[bytes]] = set()
_INTERRUPTS = {signal.SIGINT, signal.SIGTERM}


def _unblock_interrupts() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _INTERRUPTS)


def _spawn(argv: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start a server in a session of its own, registered before any interrupt can land.

    An interrupt between fork and registration would leave a server nobody knows about, so
    SIGINT/SIGTERM stay blocked until the process is in _LIVE (the child unblocks them).
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _INTERRUPTS)
    try:
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                argv, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_unblock_interrupts)
        _LIVE.add(process)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    return process


def stop_all() -> None:
    """Stop every server still running (after an interrupt); safe to call at any time."""
    for process in list(_LIVE):
        stop(process)


def stop(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the server's process group, then SIGKILL whatever is left of it."""
    sid = process.pid
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(sid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    # Workers may outlive their parent; the group id is the one we created at start.
    if process.poll() is None or session_pids(sid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(sid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
        deadline = time.monotonic() + grace
        while session_pids(sid) and time.monotonic() < deadline:
            time.sleep(0.05)
    _LIVE.discard(process)


@contextlib.contextmanager
def serve(kind: ServerKind, app: str, loop: str = "asyncio", *, idle_timeout: int | None = None,
          startup_timeout: float = 30.0, log_dir: Path | None = None) -> Iterator[RunningServer]:
    """Run `kind` serving APPS[`app`] until the block exits; raise ServerError if it is broken."""
    port = free_port()
    argv = kind.command(APPS[app], port, loop, idle_timeout)
    log_dir = log_dir or Path(tempfile.gettempdir())
    log_path = log_dir / f"bench-{kind.label(loop)}-{app}-{port}.log"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    # Debug switches would slow one server and not another; worker counts would fork.
    for name in ("WEB_CONCURRENCY", "PYTHONASYNCIODEBUG", "PYTHONDEVMODE", "PYTHONTRACEMALLOC"):
        env.pop(name, None)
    process = _spawn(argv, env, log_path)
    server = RunningServer(kind, loop, app, port, process, log_path, argv)
    keep_log = False
    try:
        _wait_for_port(server, startup_timeout)
        problem = check_app(port, app)
        if problem is not None:
            raise ServerError(f"{server.label} answered {app} wrongly: {problem}\n"
                              f"{server.log_tail()}")
        yield server
    except Exception:
        keep_log = True  # the log explains the failure; an interrupted run's logs do not
        raise
    finally:
        stop(process)
        if keep_log:
            with contextlib.suppress(OSError):
                log_path.rename(log_path.with_suffix(".failed"))
        else:
            log_path.unlink(missing_ok=True)
