"""Server life cycle: embedding, graceful shutdown, forced exit, signals, housekeeping ticks."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from moreweb.config import Config
from moreweb.server import Server
from tests.helpers_server import ServerProcess, StubProtocol, http_get, write_app

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


async def wait_until(predicate: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def bound_port(server: Server) -> int:
    sockets = server.servers[0].sockets
    assert sockets
    return int(sockets[0].getsockname()[1])


async def fetch(port: int, path: str = "/") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return data


def make_app(
    handler: Callable[[], Awaitable[bytes]], events: list[str]
) -> Callable[..., Awaitable[None]]:
    """An ASGI app with lifespan that records what happens in `events`."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            scope["state"]["db"] = "open"
            events.append("startup")
            await send({"type": "lifespan.startup.complete"})
            await receive()
            events.append("shutdown")
            await send({"type": "lifespan.shutdown.complete"})
            return
        events.append(f"request {scope['path']} state={scope['state'].get('db')}")
        body = await handler()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
        events.append(f"response {scope['path']}")

    return app


async def instant() -> bytes:
    return b"done"


def test_embedded_serve_in_a_running_loop_stops_on_should_exit() -> None:
    events: list[str] = []
    previous_sigint = signal.getsignal(signal.SIGINT)

    async def scenario() -> bytes:
        server = Server(Config(make_app(instant, events), port=0, lifespan="on"))
        task = asyncio.get_running_loop().create_task(server.serve())
        await wait_until(lambda: server.started)
        response = await fetch(bound_port(server), "/hi")
        server.should_exit = True
        await asyncio.wait_for(task, 5)
        assert server.exit_code == 0
        return response

    response = run(scenario())
    assert response.startswith(b"HTTP/1.1 200") and response.endswith(b"done")
    assert events == ["startup", "request /hi state=open", "response /hi", "shutdown"]
    # Our signal handlers are gone once serve() returns.
    assert signal.getsignal(signal.SIGINT) is previous_sigint


def test_in_flight_request_completes_before_shutdown() -> None:
    events: list[str] = []
    release = asyncio.Event()

    async def slow() -> bytes:
        await release.wait()
        return b"finished"

    async def scenario() -> bytes:
        config = Config(make_app(slow, events), port=0, protocol_class=StubProtocol)
        server = Server(config)
        task = asyncio.get_running_loop().create_task(server.serve())
        await wait_until(lambda: server.started)
        port = bound_port(server)
        request = asyncio.get_running_loop().create_task(fetch(port, "/slow"))
        await wait_until(lambda: "request /slow state=open" in events)
        server.should_exit = True
        await wait_until(lambda: not server.servers[0].is_serving())
        with pytest.raises(OSError):  # no longer accepting
            await fetch(port)
        assert not task.done() and "shutdown" not in events  # still draining
        release.set()
        response = await asyncio.wait_for(request, 5)
        await asyncio.wait_for(task, 5)
        return response

    response = run(scenario())
    assert response.endswith(b"finished")
    assert events[-2:] == ["response /slow", "shutdown"]  # lifespan shutdown runs last


def test_graceful_timeout_cancels_what_is_left(caplog: pytest.LogCaptureFixture) -> None:
    events: list[str] = []
    cancelled: list[bool] = []

    async def forever() -> bytes:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return b""

    async def scenario() -> float:
        config = Config(make_app(forever, events), port=0, protocol_class=StubProtocol,
                        timeout_graceful_shutdown=0.3)
        server = Server(config)
        task = asyncio.get_running_loop().create_task(server.serve())
        await wait_until(lambda: server.started)
        request = asyncio.get_running_loop().create_task(fetch(bound_port(server), "/stuck"))
        await wait_until(lambda: "request /stuck state=open" in events)
        started = time.monotonic()
        server.should_exit = True
        await asyncio.wait_for(task, 5)
        elapsed = time.monotonic() - started
        request.cancel()
        await asyncio.gather(request, return_exceptions=True)
        assert not server.server_state.connections and not server.server_state.tasks
        return elapsed

    elapsed = run(scenario())
    assert 0.25 < elapsed < 3
    assert cancelled == [True]
    assert events[-1] == "shutdown"
    assert any("Graceful shutdown timed out" in m for m in caplog.messages)


def test_force_exit_skips_waiting_and_lifespan_shutdown() -> None:
    events: list[str] = []

    async def forever() -> bytes:
        await asyncio.sleep(60)
        return b""

    async def scenario() -> float:
        config = Config(make_app(forever, events), port=0, protocol_class=StubProtocol,
                        timeout_graceful_shutdown=None)
        server = Server(config)
        task = asyncio.get_running_loop().create_task(server.serve())
        await wait_until(lambda: server.started)
        request = asyncio.get_running_loop().create_task(fetch(bound_port(server), "/stuck"))
        await wait_until(lambda: "request /stuck state=open" in events)
        server.handle_exit(signal.SIGINT)
        await asyncio.sleep(0.3)
        assert not task.done()  # no timeout: it would wait forever
        started = time.monotonic()
        server.handle_exit(signal.SIGINT)  # the second signal forces
        await asyncio.wait_for(task, 5)
        request.cancel()
        await asyncio.gather(request, return_exceptions=True)
        return time.monotonic() - started

    assert run(scenario()) < 1.5
    assert "shutdown" not in events


def test_tick_refreshes_headers_and_enforces_max_requests(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = Server(Config(make_app(instant, []), limit_max_requests=10))
    state = server.server_state
    state.default_header_block = b"stale"
    assert server._on_tick(0) is False
    assert b"date: " in state.default_header_block
    state.total_requests = 10
    assert server._on_tick(1) is True
    assert server.should_exit is True
    assert "Maximum request limit of 10 exceeded. Terminating process." in caplog.messages


def test_max_requests_jitter_stays_in_range() -> None:
    limits = {
        Server(Config(make_app(instant, []), limit_max_requests=100,
                      limit_max_requests_jitter=5))._max_requests
        for _ in range(50)
    }
    assert limits <= set(range(100, 106)) and len(limits) > 1


def test_startup_failure_sets_exit_code_and_never_listens() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "nope"})

    server = Server(Config(app, port=0))
    run(server.serve())
    assert server.exit_code == 3 and server.started is False and server.servers == []


def test_app_load_failure_sets_exit_code_1(caplog: pytest.LogCaptureFixture) -> None:
    server = Server(Config("no_such_module_here:app", port=0))
    run(server.serve())
    assert server.exit_code == 1 and server.started is False
    assert ('Error loading ASGI app. Could not import module "no_such_module_here".'
            in caplog.messages)


def test_startup_log_line_shows_the_real_port(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "moreweb.error")

    async def scenario() -> int:
        server = Server(Config(make_app(instant, []), port=0, protocol_class=StubProtocol))
        task = asyncio.get_running_loop().create_task(server.serve())
        await wait_until(lambda: server.started)
        port = bound_port(server)
        server.should_exit = True
        await asyncio.wait_for(task, 5)
        return port

    port = run(scenario())
    assert port != 0
    assert (f"moreweb running on http://127.0.0.1:{port} (Press CTRL+C to quit)"
            in caplog.messages)


# -- signals, in a real process -----------------------------------------------------------------

SLOW_APP = """
import asyncio, sys

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    print("handling " + scope["path"], file=sys.stderr, flush=True)
    await asyncio.sleep(float(scope["query_string"] or b"0.5"))
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"4")]})
    await send({"type": "http.response.body", "body": b"done"})
"""


def loops() -> list[str]:
    kinds = ["asyncio"]
    try:
        import uvloop  # noqa: F401
    except ImportError:
        pass
    else:
        kinds.append("uvloop")
    return kinds


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("loop", loops())
def test_sigterm_lets_the_in_flight_request_finish_then_exits_0(
    tmp_path: Path, loop: str
) -> None:
    app_dir = write_app(tmp_path, "slow_app", SLOW_APP)
    with ServerProcess(["slow_app:app", "--app-dir", app_dir, "--port", "0",
                        "--loop", loop]) as server:
        client = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        with client:
            client.sendall(b"GET /slow?0.5 HTTP/1.1\r\nHost: x\r\n\r\n")
            assert server.stderr.wait_for("handling /slow", 5)
            server.send_signal(signal.SIGTERM)
            response = b""
            while chunk := client.recv(65536):
                response += chunk
        assert server.wait(10) == 0
    assert response.startswith(b"HTTP/1.1 200") and response.endswith(b"done")
    assert "Shutting down" in server.stderr_text
    assert "Finished server process" in server.stderr_text


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_second_sigint_forces_exit(tmp_path: Path) -> None:
    app_dir = write_app(tmp_path, "slow_app2", SLOW_APP)
    with ServerProcess(["slow_app2:app", "--app-dir", app_dir, "--port", "0"]) as server:
        client = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        with client:
            client.sendall(b"GET /stuck?60 HTTP/1.1\r\nHost: x\r\n\r\n")
            assert server.stderr.wait_for("handling /stuck", 5)
            server.send_signal(signal.SIGINT)
            assert server.stderr.wait_for("Waiting for connections to close", 5)
            time.sleep(0.2)
            assert server.proc is not None and server.proc.poll() is None  # still draining
            started = time.monotonic()
            server.send_signal(signal.SIGINT)
            code = server.wait(5)
            assert time.monotonic() - started < 3
    assert code == 0
    assert "Finished server process" in server.stderr_text


def test_access_log_cannot_be_forged_with_request_data() -> None:
    with ServerProcess(["examples.hello:app", "--port", "0"]) as server:
        # Percent-encoded CRLF, and raw bytes that are controls in latin-1 (C1 NEL, ESC).
        for target in (b"/a%0d%0aINFO:%20forged", b"/b\x85forged", b"/c\x1b[31mred"):
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as client:
                client.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n"
                               b"Connection: close\r\n\r\n")
                while client.recv(65536):
                    pass
        assert server.stdout.wait_for(r'"GET /a%0d%0aINFO:%20forged HTTP/1\.1" 200', 5)
        server.stop()
    for line in server.stdout.lines + server.stderr.lines:
        assert "\x85" not in line and "\x1b" not in line
        assert not line.startswith("forged") and not line.startswith("[31mred")


# -- listening sockets --------------------------------------------------------------------------


def test_systemd_sockets_need_a_matching_pid() -> None:
    from moreweb.sockets import systemd_sockets

    environ = {"LISTEN_PID": str(os.getpid() + 1), "LISTEN_FDS": "1"}
    assert systemd_sockets(environ) == []
    assert environ == {"LISTEN_PID": str(os.getpid() + 1), "LISTEN_FDS": "1"}  # not ours
    assert systemd_sockets({}) == []


def test_bind_unix_refuses_a_live_socket(tmp_path: Path) -> None:
    from moreweb.sockets import bind_unix

    path = str(tmp_path / "live.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as live:
        live.bind(path)
        live.listen()
        with pytest.raises(OSError, match="in use by a running server"):
            bind_unix(path)
        assert Path(path).exists()


def test_describe_socket_names_ipv4_ipv6_and_unix(tmp_path: Path) -> None:
    from moreweb.sockets import bind_tcp, bind_unix, describe_socket

    with bind_tcp("127.0.0.1", 0) as sock:
        port = sock.getsockname()[1]
        assert describe_socket(sock) == f"http://127.0.0.1:{port}"
        assert describe_socket(sock, is_ssl=True) == f"https://127.0.0.1:{port}"
    path = str(tmp_path / "d.sock")
    with bind_unix(path) as sock:
        assert describe_socket(sock) == f"unix socket {path}"
    if socket.has_ipv6:
        try:
            sock6 = bind_tcp("[::1]", 0)
        except OSError:
            return
        with sock6:
            assert describe_socket(sock6).startswith("http://[::1]:")


SYSTEMD_LAUNCHER = """
import os, socket, sys
listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.bind(("127.0.0.1", 0))
if listener.fileno() != 3:
    os.dup2(listener.fileno(), 3)
    listener.close()
else:
    listener.detach()
# What systemd does before exec'ing a socket-activated service.
os.environ["LISTEN_PID"] = str(os.getpid())
os.environ["LISTEN_FDS"] = "1"
sys.argv = ["moreweb", "examples.hello:app", "--port", "1"]
from moreweb.cli import main
main()
"""


@pytest.mark.skipif(sys.platform == "win32", reason="systemd socket activation")
def test_systemd_socket_activation(tmp_path: Path) -> None:
    launcher = tmp_path / "launcher.py"
    launcher.write_text(SYSTEMD_LAUNCHER)
    with ServerProcess([str(launcher)], python_args=True) as server:
        assert server.port != 1  # the activated socket, not --port
        assert http_get("127.0.0.1", server.port).endswith(b"Hello, world!")
        server.send_signal(signal.SIGTERM)
        assert server.wait(10) == 0
