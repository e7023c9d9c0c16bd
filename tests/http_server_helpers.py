"""Black-box test helpers: a live moreweb `Server` on 127.0.0.1 port 0, and raw-socket clients.

`serve(app, **options)` runs a real `Server` (the real `HttpProtocol`, the real engine) in its
own event loop on a background thread, yields where it listens, and always stops it: it sets
`should_exit`, waits a bounded time for a graceful stop, and fails the test if the thread is
still alive. The server's error log is captured (`RunningServer.errors`) so tests can check
what was logged without depending on how logging is configured.

`RawConnection` speaks bytes to the server and parses responses just enough to check framing
(status line, fields, Content-Length / chunked / close-delimited bodies, trailers). Every read
has a deadline: nothing here can hang the suite.

It must never bind anything but 127.0.0.1 / ::1 port 0, and never outlive the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from moreweb.config import Config
from moreweb.server import Server

#: Longest any helper waits for the server or a socket; tests pass smaller values.
DEFAULT_TIMEOUT = 5.0

Headers = list[tuple[bytes, bytes]]


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class RunningServer:
    server: Server
    host: str
    port: int
    loop: asyncio.AbstractEventLoop
    log: _Capture
    uds: str | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def errors(self) -> list[logging.LogRecord]:
        """Records logged at ERROR or above on `moreweb.error` while the server ran."""
        return [r for r in self.log.records if r.levelno >= logging.ERROR]

    def error_messages(self) -> list[str]:
        return [r.getMessage() for r in self.errors]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = DEFAULT_TIMEOUT) -> bool:
        """Poll `predicate` (from the test thread) until true or `timeout`; return its value."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def connection_count(self) -> int:
        return len(self.server.server_state.connections)

    def raw(self, timeout: float = DEFAULT_TIMEOUT) -> RawConnection:
        if self.uds is not None:
            return RawConnection(self.uds, 0, timeout)
        return RawConnection(self.host, self.port, timeout)


@contextlib.contextmanager
def serve(app: Any, *, host: str = "127.0.0.1", **options: Any) -> Iterator[RunningServer]:
    """Run `app` on `host` port 0 (or on the Unix socket `uds=PATH`) for the `with` block.

    `options` are `Config` keyword arguments. Defaults differ from the CLI's only where a test
    needs them to: lifespan off (most test apps don't speak it), a short graceful-shutdown
    timeout so a test that leaves a request hanging still stops fast.
    """
    options.setdefault("lifespan", "off")
    options.setdefault("timeout_graceful_shutdown", 1.0)
    options.setdefault("access_log", False)
    config = Config(app, host=host, port=0, **options)
    server = Server(config)
    capture = _Capture()
    error_logger = logging.getLogger("moreweb.error")
    error_logger.addHandler(capture)
    previous_level = error_logger.level
    if error_logger.getEffectiveLevel() > logging.INFO:
        error_logger.setLevel(logging.INFO)
    loop = asyncio.new_event_loop()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.serve())
        except BaseException as exc:  # surfaced in the test thread
            failure.append(exc)
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    thread = threading.Thread(target=run, name="moreweb-test-server", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while not (server.started and server.servers):
            if failure or not thread.is_alive():
                raise AssertionError(f"server did not start: {failure or server.exit_code}")
            if time.monotonic() > deadline:
                raise AssertionError("server did not start in time")
            time.sleep(0.005)
        sockname = server.servers[0].sockets[0].getsockname()
        if config.uds:
            yield RunningServer(server, host, 0, loop, capture, uds=config.uds)
        else:
            yield RunningServer(server, host, sockname[1], loop, capture)
    finally:
        server.should_exit = True
        thread.join(DEFAULT_TIMEOUT + float(options["timeout_graceful_shutdown"]))
        error_logger.removeHandler(capture)
        error_logger.setLevel(previous_level)
        if thread.is_alive():
            server.force_exit = True
            thread.join(DEFAULT_TIMEOUT)
            raise AssertionError("the server did not stop in time")
        if failure:
            raise failure[0]


# -- raw sockets ---------------------------------------------------------------------------------


@dataclass
class RawResponse:
    status: int
    reason: bytes
    http_version: bytes
    headers: Headers
    body: bytes = b""
    trailers: Headers = field(default_factory=list)
    chunked: bool = False

    def header(self, name: bytes) -> bytes | None:
        values = self.header_all(name)
        return values[0] if values else None

    def header_all(self, name: bytes) -> list[bytes]:
        lname = name.lower()
        return [v for n, v in self.headers if n.lower() == lname]


class RawConnection:
    """A client socket with a receive buffer and a deadline on every read."""

    def __init__(self, host: str, port: int, timeout: float = DEFAULT_TIMEOUT,
                 rcvbuf: int | None = None) -> None:
        """Connect to `host`:`port`, or to the Unix socket `host` when it starts with '/'.

        `rcvbuf` shrinks the kernel receive buffer (set before connecting, so it sticks), for
        tests that need the server's writes to back up quickly.
        """
        address: Any
        if host.startswith("/"):
            family, address = socket.AF_UNIX, host
        else:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            address = (host, port)
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(address)
        self.timeout = timeout
        self.buffer = bytearray()  # bytearray: cheap appends and front deletions for big bodies
        self.closed_by_peer = False

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def unread(self, data: bytes) -> None:
        """Put bytes back in front of the buffer (after peeking at them)."""
        self.buffer[:0] = data

    def _take(self, count: int) -> bytes:
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data

    def _fill(self, deadline: float) -> bool:
        """Read once more; False when the peer closed. Raises TimeoutError past `deadline`."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no data from the server in time")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:  # socket.timeout
            raise TimeoutError("no data from the server in time") from None
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.closed_by_peer = True
            return False
        self.buffer += chunk
        return True

    def read_until_close(self, timeout: float | None = None) -> bytes:
        """Everything until the server closes; raises TimeoutError if it never does."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not self.closed_by_peer and self._fill(deadline):
            pass
        return self._take(len(self.buffer))

    def read_exactly(self, count: int, timeout: float | None = None) -> bytes:
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buffer) < count:
            if not self._fill(deadline):
                raise EOFError(f"closed after {len(self.buffer)} of {count} bytes")
        return self._take(count)

    def read_line(self, deadline: float) -> bytes:
        while True:
            end = self.buffer.find(b"\r\n")
            if end != -1:
                line = self._take(end)
                del self.buffer[:2]
                return line
            if not self._fill(deadline):
                raise EOFError("connection closed in the middle of a line")

    def is_closed(self, timeout: float = 1.0) -> bool:
        """True if the server closes within `timeout` without sending anything more."""
        try:
            extra = self.read_until_close(timeout)
        except TimeoutError:
            return False
        assert extra == b"", f"unexpected bytes before close: {extra!r}"
        return True

    def read_head(self, deadline: float) -> RawResponse:
        status_line = self.read_line(deadline)
        version, status, reason = [*status_line.split(b" ", 2), b""][:3]
        assert version.startswith(b"HTTP/"), status_line
        headers: Headers = []
        while line := self.read_line(deadline):
            name, _, value = line.partition(b":")
            headers.append((name, value.strip()))
        return RawResponse(int(status), reason, version[5:], headers)

    def read_response(self, head_request: bool = False,
                      timeout: float | None = None) -> RawResponse:
        """Read one final response (skipping 1xx), its body framed as RFC 9112 §6.3 says."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            response = self.read_head(deadline)
            if response.status >= 200:
                break
        if head_request or response.status in (204, 304):
            return response
        if b"chunked" in b",".join(response.header_all(b"transfer-encoding")).lower():
            response.chunked = True
            body = []
            while True:
                size = int(self.read_line(deadline).split(b";")[0], 16)
                if size == 0:
                    break
                body.append(self._read_exact_by(size, deadline))
                assert self._read_exact_by(2, deadline) == b"\r\n"
            response.body = b"".join(body)
            while line := self.read_line(deadline):
                name, _, value = line.partition(b":")
                response.trailers.append((name, value.strip()))
            return response
        length = response.header(b"content-length")
        if length is not None:
            response.body = self._read_exact_by(int(length), deadline)
        else:
            while not self.closed_by_peer and self._fill(deadline):
                pass
            response.body = self._take(len(self.buffer))
        return response

    def _read_exact_by(self, count: int, deadline: float) -> bytes:
        while len(self.buffer) < count:
            if not self._fill(deadline):
                raise EOFError(f"closed after {len(self.buffer)} of {count} body bytes")
        return self._take(count)


def exchange(port: int, data: bytes, timeout: float = DEFAULT_TIMEOUT,
             host: str = "127.0.0.1") -> bytes:
    """Send `data`, then read until the server closes or `timeout` passes (no error then)."""
    with RawConnection(host, port, timeout) as conn:
        conn.send(data)
        try:
            return conn.read_until_close(timeout)
        except TimeoutError:
            return bytes(conn.buffer)


def request(method: str = "GET", target: str = "/", headers: Headers | None = None,
            body: bytes = b"", version: str = "1.1") -> bytes:
    """A request's bytes; adds Host (HTTP/1.1) and Content-Length (when there is a body)."""
    fields: Headers = list(headers or [])
    names = {name.lower() for name, _ in fields}
    if version == "1.1" and b"host" not in names:
        fields.insert(0, (b"host", b"test"))
    if body and b"content-length" not in names and b"transfer-encoding" not in names:
        fields.append((b"content-length", str(len(body)).encode()))
    head = f"{method} {target} HTTP/{version}\r\n".encode("latin-1")
    head += b"".join(name + b": " + value + b"\r\n" for name, value in fields)
    return head + b"\r\n" + body


# -- small ASGI apps shared by several test files --------------------------------------------------


async def read_body(receive: Callable[[], Any]) -> bytes:
    body = []
    while True:
        message = await receive()
        assert message["type"] == "http.request", message
        body.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(body)


async def respond(send: Callable[[dict[str, Any]], Any], status: int = 200,
                  body: bytes = b"", headers: Headers | None = None) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers or []})
    await send({"type": "http.response.body", "body": body})


async def hello_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    await respond(send, 200, b"Hello, world!", [(b"content-type", b"text/plain")])


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Echo the request body back; the target goes into the `x-target` response field."""
    body = await read_body(receive)
    target = scope["raw_path"] + (b"?" + scope["query_string"] if scope["query_string"] else b"")
    await respond(send, 200, body, [(b"x-target", target)])


async def wait_threading_event(event: threading.Event, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Let an app (on the server's loop) wait for the test thread without blocking the loop."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not event.is_set():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.005)
    return True
