"""Closing a WebSocket, every way it can happen (RFC 6455 §7, ASGI spec 2.4 disconnect).

Close codes and reasons both ways, a dropped TCP connection (1006), app errors (1011), the app
returning (1000), `send` after the client left (OSError), and server shutdown (1012 to the
client and to the app, after in-flight HTTP requests finish).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from moreweb.protocols import websocket as ws_protocol
from tests.ws_helpers import (
    OP_CLOSE,
    OP_TEXT,
    AppProbe,
    RawClient,
    close_payload,
    echo_app,
    run,
    serve,
    upgrade_request,
    wait_until,
)

websockets = pytest.importorskip("websockets")
from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402


def closing_app(code: int | None, reason: str | None) -> Any:
    """Accept, wait for one message, then close with `code`/`reason` (None: leave the key out)."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()
        message: dict[str, Any] = {"type": "websocket.close"}
        if code is not None:
            message["code"] = code
        if reason is not None:
            message["reason"] = reason
        await send(message)

    return app


@pytest.mark.parametrize(("code", "reason", "expected"), [
    (None, None, (1000, "")),
    (1000, "done", (1000, "done")),
    (1001, "", (1001, "")),
    (1008, "policy", (1008, "policy")),
    (4123, "app défined", (4123, "app défined")),
])
def test_app_close_code_and_reason_reach_the_client(
        code: int | None, reason: str | None, expected: tuple[int, str]) -> None:
    async def scenario() -> tuple[int, str]:
        async with serve(closing_app(code, reason)) as srv, connect(srv.url()) as ws:
            await ws.send("close please")
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 5)
            assert info.value.rcvd is not None
            return info.value.rcvd.code, info.value.rcvd.reason

    assert run(scenario()) == expected


@pytest.mark.parametrize(("code", "reason"), [
    (1000, ""), (1001, "navigating away"), (3000, "registered"), (4999, "privé"),
])
def test_client_close_code_and_reason_reach_the_app(code: int, reason: str) -> None:
    probe = AppProbe()

    async def scenario() -> int | None:
        async with serve(echo_app(probe)) as srv:
            async with connect(srv.url()) as ws:
                await ws.close(code, reason)
                echoed = ws.close_code
            await probe.disconnect()
            return echoed

    assert run(scenario()) == code  # RFC 6455 §5.5.1: the server echoes the code
    assert probe.received[-1] == {"type": "websocket.disconnect", "code": code, "reason": reason}


def test_close_frame_without_a_code_is_1005_for_the_app() -> None:
    # RFC 6455 §7.1.5: no status code in the close frame is reported as 1005.
    probe = AppProbe()

    async def scenario() -> bytes:
        async with serve(echo_app(probe)) as srv:
            client = await RawClient.opened(srv.port)
            client.send(OP_CLOSE, b"")
            frame = await client.read_until_close()
            assert await client.closed_by_server()
            client.close()
            await probe.disconnect()
            return frame.payload

    reply = run(scenario())
    assert reply in (b"", close_payload(1000))  # never echoes 1005 on the wire
    assert probe.received[-1]["code"] == 1005


@pytest.mark.parametrize("how", ["fin", "reset"])
def test_tcp_drop_without_close_frame_is_1006(how: str) -> None:
    probe = AppProbe()

    async def scenario() -> None:
        async with serve(echo_app(probe)) as srv:
            client = await RawClient.opened(srv.port)
            client.send(OP_TEXT, b"hi")
            await client.read_frame()
            if how == "fin":
                client.close()
            else:
                client.abort()
            await probe.disconnect()
            await asyncio.wait_for(probe.done.wait(), 5)

    run(scenario())
    assert probe.received[-1]["type"] == "websocket.disconnect"
    assert probe.received[-1]["code"] == 1006


def test_app_exception_after_accept_closes_with_1011(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()
        raise ValueError("bug in the app")

    async def scenario() -> int:
        async with serve(app) as srv, connect(srv.url()) as ws:
            await ws.send("trigger")
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 5)
            assert info.value.rcvd is not None
            return info.value.rcvd.code

    assert run(scenario()) == 1011
    assert any(r.exc_info and r.exc_info[0] is ValueError for r in caplog.records)


def test_app_returning_after_accept_closes_normally() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "bye"})

    async def scenario() -> tuple[str, int]:
        async with serve(app) as srv, connect(srv.url()) as ws:
            last = await ws.recv()
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 5)
            assert info.value.rcvd is not None
            return str(last), info.value.rcvd.code

    assert run(scenario()) == ("bye", 1000)


def test_app_receive_after_its_own_close_gets_the_disconnect() -> None:
    # The app closes first; the client's close reply arrives as websocket.disconnect.
    probe = AppProbe()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await probe.receive_from(receive)
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 4000, "reason": "server done"})
        await probe.receive_from(receive)

    async def scenario() -> None:
        async with serve(app) as srv, connect(srv.url()) as ws:
            await ws.wait_closed()
            assert ws.close_code == 4000
            await wait_until(lambda: len(probe.received) == 2)

    run(scenario())
    assert probe.received[1]["type"] == "websocket.disconnect"
    assert probe.received[1]["code"] == 4000  # the peer echoed our code (RFC 6455 §5.5.1)


def test_send_after_client_disconnect_raises_oserror() -> None:
    # ASGI spec 2.4: send on a closed connection raises an OSError subclass.
    probe = AppProbe()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await probe.receive_from(receive)  # the disconnect
        try:
            await send({"type": "websocket.send", "text": "too late"})
        except BaseException as exc:
            probe.errors.append(exc)
        probe.done.set()

    async def scenario() -> None:
        async with serve(app) as srv:
            async with connect(srv.url()):
                pass
            await asyncio.wait_for(probe.done.wait(), 5)

    run(scenario())
    assert probe.types() == ["websocket.disconnect"]
    assert len(probe.errors) == 1 and isinstance(probe.errors[0], OSError)


def test_app_that_only_sends_learns_of_a_dropped_client_through_oserror() -> None:
    errors: list[BaseException] = []
    sent = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        try:
            for _ in range(1000):
                await send({"type": "websocket.send", "bytes": b"tick"})
                sent.set()
                await asyncio.sleep(0.005)
        except OSError as exc:
            errors.append(exc)

    async def scenario() -> None:
        async with serve(app) as srv:
            client = await RawClient.opened(srv.port)
            await asyncio.wait_for(sent.wait(), 5)
            client.abort()
            await wait_until(lambda: bool(errors))

    run(scenario())
    assert isinstance(errors[0], OSError)


def test_server_shutdown_closes_open_websockets_with_1012() -> None:
    probe = AppProbe()

    async def scenario() -> tuple[int, Any]:
        async with serve(echo_app(probe)) as srv, connect(srv.url()) as ws:
            await ws.send("hello")
            await ws.recv()
            srv.server.should_exit = True
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 5)
            assert info.value.rcvd is not None
            await probe.disconnect()
            return info.value.rcvd.code, srv.server.exit_code

    assert run(scenario()) == (1012, 0)
    assert probe.received[-1]["type"] == "websocket.disconnect"
    assert probe.received[-1]["code"] == 1012


def test_shutdown_lets_in_flight_http_finish_and_closes_websockets_with_1012() -> None:
    release = asyncio.Event()
    http_started = asyncio.Event()
    probe = AppProbe()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await echo_app(probe)(scope, receive, send)
            return
        http_started.set()
        await release.wait()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"4")]})
        await send({"type": "http.response.body", "body": b"done"})

    async def scenario() -> tuple[int, bytes]:
        async with serve(app) as srv, connect(srv.url()) as ws:
            http = await RawClient.connect(srv.port)
            http.write(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
            await asyncio.wait_for(http_started.wait(), 5)
            srv.server.should_exit = True
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 5)
            assert info.value.rcvd is not None
            # The HTTP request is still being served; it completes in full.
            release.set()
            head = await http.read_head()
            body = await http.read_body(head)
            assert await http.closed_by_server()
            http.close()
            return info.value.rcvd.code, body

    assert run(scenario()) == (1012, b"done")


def test_unresponsive_peer_is_dropped_after_the_close_timeout(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # RFC 6455 §7.1.1: after sending close, wait for the peer's close, but not forever.
    monkeypatch.setattr(ws_protocol, "CLOSE_TIMEOUT", 0.3)
    probe = AppProbe()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1000})
        await probe.receive_from(receive)

    async def scenario() -> float:
        async with serve(app) as srv:
            started = asyncio.get_running_loop().time()  # the server's timer starts later
            client = await RawClient.opened(srv.port)
            frame = await client.read_until_close()
            assert frame.close_code == 1000
            assert await client.closed_by_server(timeout=3)  # we never answered the close
            client.close()
            await probe.disconnect()
            return asyncio.get_running_loop().time() - started

    elapsed = run(scenario())
    assert 0.3 <= elapsed < 2.5
    assert probe.received[-1]["code"] == 1006


def test_invalid_close_code_from_app_still_closes_cleanly() -> None:
    # 1005/1006 must never be sent on the wire (RFC 6455 §7.4.1); the client gets a valid close.
    async def scenario() -> int:
        async with serve(closing_app(1006, "")) as srv, connect(srv.url()) as ws:
            await ws.send("x")
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 5)
            assert info.value.rcvd is not None
            return info.value.rcvd.code

    code = run(scenario())
    assert code not in (1005, 1006)


def test_client_gone_before_accept_is_a_1006_disconnect_and_accept_raises_oserror() -> None:
    connected = asyncio.Event()
    probe = AppProbe()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await probe.receive_from(receive)
        connected.set()
        await probe.receive_from(receive)
        try:
            await send({"type": "websocket.accept"})
        except BaseException as exc:
            probe.errors.append(exc)
        probe.done.set()

    async def scenario() -> None:
        async with serve(app) as srv:
            client = await RawClient.connect(srv.port)
            client.write(upgrade_request())
            await asyncio.wait_for(connected.wait(), 5)
            client.abort()
            await asyncio.wait_for(probe.done.wait(), 5)

    run(scenario())
    assert probe.received == [{"type": "websocket.connect"},
                              {"type": "websocket.disconnect", "code": 1006, "reason": ""}]
    assert len(probe.errors) == 1 and isinstance(probe.errors[0], OSError)


def test_overlong_close_reason_from_app_is_cut_and_keeps_the_code() -> None:
    # RFC 6455 §5.5: a control frame payload is at most 125 bytes (code + 123 bytes reason).
    async def scenario() -> tuple[int, str]:
        async with serve(closing_app(4000, "r" * 200)) as srv, connect(srv.url()) as ws:
            await ws.send("x")
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 5)
            assert info.value.rcvd is not None
            return info.value.rcvd.code, info.value.rcvd.reason

    # The app's code survives; the reason is cut to what fits.
    assert run(scenario()) == (4000, "r" * 123)
