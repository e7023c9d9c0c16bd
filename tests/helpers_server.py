"""Test helpers for running moreweb servers: a subprocess wrapper and a stub protocol.

`ServerProcess` runs `python -m moreweb ...` on 127.0.0.1 port 0 (or a Unix socket), learns
the real address from the startup log line, and always terminates (then kills) the process.
`StubProtocol` is a deliberately tiny implementation of the HttpProtocol contract
(register/unregister in server_state, shutdown(), transport), so that server life-cycle tests
can control exactly what a connection is doing without depending on the real HTTP engine.
Every wait here has a timeout.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
RUNNING_LINE = re.compile(r"moreweb running on (?P<where>.+?) \(Press CTRL\+C to quit\)")
STARTUP_TIMEOUT = 15.0


def write_app(directory: Path, name: str, source: str) -> str:
    """Write a module `name` into `directory` and return its directory (for --app-dir)."""
    (directory / f"{name}.py").write_text(textwrap.dedent(source))
    return str(directory)


def subprocess_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOREWEB_")}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
    )
    env.pop("WEB_CONCURRENCY", None)
    env.pop("FORWARDED_ALLOW_IPS", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def run_cli(args: list[str], env: dict[str, str] | None = None, timeout: float = 20.0,
            cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m moreweb ARGS` to completion (for commands that exit by themselves)."""
    return subprocess.run(
        [sys.executable, "-m", "moreweb", *args],
        capture_output=True, text=True, timeout=timeout, env=subprocess_env(env),
        cwd=cwd or str(REPO_ROOT), stdin=subprocess.DEVNULL,
    )


class _LineReader(threading.Thread):
    def __init__(self, stream: Any) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.lines: list[str] = []
        self.condition = threading.Condition()

    def run(self) -> None:
        for line in self.stream:
            with self.condition:
                self.lines.append(line.rstrip("\n"))
                self.condition.notify_all()
        with self.condition:
            self.condition.notify_all()

    def wait_for(self, pattern: re.Pattern[str] | str, timeout: float) -> re.Match[str] | None:
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        seen = 0
        with self.condition:
            while True:
                for line in self.lines[seen:]:
                    match = regex.search(line)
                    if match:
                        return match
                seen = len(self.lines)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self.is_alive():
                    # One last look: the reader may have appended before ending.
                    for line in self.lines[seen:]:
                        match = regex.search(line)
                        if match:
                            return match
                    return None
                self.condition.wait(min(remaining, 0.1))


class ServerProcess:
    """`python -m moreweb ARGS` (or `python ARGS` with python_args=True) in a subprocess;
    use as a context manager."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None,
                 cwd: str | None = None, wait_started: bool = True,
                 pass_fds: tuple[int, ...] = (), python_args: bool = False) -> None:
        self.command = [sys.executable, *args] if python_args else [
            sys.executable, "-m", "moreweb", *args
        ]
        self.args = args
        self.pass_fds = pass_fds
        self.env = env
        self.cwd = cwd
        self.wait_started = wait_started
        self.proc: subprocess.Popen[str] | None = None
        self.where = ""
        self.url = ""
        self.port = 0

    def __enter__(self) -> ServerProcess:
        self.proc = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            text=True, env=subprocess_env(self.env), cwd=self.cwd or str(REPO_ROOT),
            pass_fds=self.pass_fds,
        )
        self.stderr = _LineReader(self.proc.stderr)
        self.stdout = _LineReader(self.proc.stdout)
        self.stderr.start()
        self.stdout.start()
        if self.wait_started:
            try:
                self.wait_running()
            except BaseException:
                self.stop()
                raise
        return self

    def wait_running(self) -> None:
        match = self.stderr.wait_for(RUNNING_LINE, STARTUP_TIMEOUT)
        if match is None:
            raise AssertionError(f"server did not start; stderr:\n{self.stderr_text}")
        self.where = match.group("where")
        if self.where.startswith("http"):
            self.url = self.where
            self.port = int(self.where.rsplit(":", 1)[1])

    @property
    def stderr_text(self) -> str:
        return "\n".join(self.stderr.lines)

    @property
    def stdout_text(self) -> str:
        return "\n".join(self.stdout.lines)

    def send_signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 10.0) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout=timeout)
        self.stderr.join(timeout=2)
        self.stdout.join(timeout=2)
        return code

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, [self.stderr, self.stdout], grace=5)

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def http_get(host: str, port: int, path: str = "/", timeout: float = 5.0,
             extra: bytes = b"") -> bytes:
    """One raw HTTP/1.1 GET with Connection: close; returns the whole response."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect((host, port))
        sock.sendall(
            b"GET " + path.encode("latin-1") + b" HTTP/1.1\r\nHost: test\r\n" + extra
            + b"Connection: close\r\n\r\n"
        )
        return _read_all(sock)


def _read_all(sock: Any) -> bytes:
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


class StubProtocol(asyncio.Protocol):
    """The smallest thing that honours the HttpProtocol contract the Server relies on.

    Reads one request head, runs the app for it with an empty body, writes the response with
    `Connection: close` and closes. shutdown() closes at once when idle, else after the
    response, exactly as the contract says.
    """

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any]) -> None:
        self.config = config
        self.server_state = server_state
        self.app_state = app_state
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.busy = False
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server_state.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server_state.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.busy or b"\r\n\r\n" not in self.buffer:
            return
        request_line = self.buffer.split(b"\r\n", 1)[0].decode("latin-1")
        method, target, _ = request_line.split(" ", 2)
        self.busy = True
        task = asyncio.get_running_loop().create_task(self.run_app(method, target))
        self.server_state.tasks.add(task)
        task.add_done_callback(self.server_state.tasks.discard)

    async def run_app(self, method: str, target: str) -> None:
        path, _, query = target.partition("?")
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "path": path, "raw_path": path.encode(), "root_path": "",
            "query_string": query.encode(), "headers": [], "scheme": "http",
            "server": None, "client": None, "state": dict(self.app_state),
        }
        status = 500
        body = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                body.append(message.get("body", b""))

        try:
            await self.config.loaded_app(scope, receive, send)
        finally:
            self.server_state.total_requests += 1
            payload = b"".join(body)
            assert self.transport is not None
            if not self.transport.is_closing():
                self.transport.write(
                    f"HTTP/1.1 {status} X\r\ncontent-length: {len(payload)}\r\n"
                    "connection: close\r\n\r\n".encode() + payload
                )
                self.transport.close()

    def shutdown(self) -> None:
        self.closing = True
        if not self.busy and self.transport is not None:
            self.transport.close()


def stop_process(proc: subprocess.Popen[str], readers: list[_LineReader],
                 grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds; join the readers and close the pipes."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    for reader in readers:
        reader.join(timeout=2)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def wait_for_line(server: ServerProcess, pattern: str, count: int = 1,
                  timeout: float = 15.0) -> None:
    """Wait until `pattern` has appeared in `count` stderr lines of the server."""
    regex = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(1 for line in list(server.stderr.lines) if regex.search(line)) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{count} x {pattern!r} not logged; stderr:\n{server.stderr_text}")
