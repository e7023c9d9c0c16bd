"""A Starlette app's WebSocket routes behave under moreweb as Starlette documents them.

Starlette is the most common framework on top of ASGI websockets; its `WebSocket` helpers
exercise the scope (path params, query, headers), accept with a subprotocol, JSON messages,
`WebSocketDisconnect` codes, closing before accept (403), `WebSocketException` and
`send_denial_response` (the `websocket.http.response` extension).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.ws_helpers import run, serve, wait_until

pytest.importorskip("starlette")
websockets = pytest.importorskip("websockets")

from starlette.applications import Starlette  # noqa: E402
from starlette.exceptions import WebSocketException  # noqa: E402
from starlette.responses import PlainTextResponse  # noqa: E402
from starlette.routing import Route, WebSocketRoute  # noqa: E402
from starlette.websockets import WebSocket, WebSocketDisconnect  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402

disconnects: list[int] = []


async def room(websocket: WebSocket) -> None:
    subprotocols = websocket.scope["subprotocols"]
    await websocket.accept(subprotocol=subprotocols[0] if subprotocols else None)
    name = websocket.path_params["name"]
    user = websocket.query_params.get("user", "anon")
    token = websocket.headers.get("x-token", "")
    await websocket.send_json({"room": name, "user": user, "token": token})
    try:
        while True:
            data = await websocket.receive_json()
            await websocket.send_json({"echo": data, "room": name})
    except WebSocketDisconnect as exc:
        disconnects.append(exc.code)


async def binary(websocket: WebSocket) -> None:
    await websocket.accept()
    async for chunk in websocket.iter_bytes():
        await websocket.send_bytes(chunk[::-1])


async def closes(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.receive_text()
    await websocket.close(code=4001, reason="kicked")


async def refuses(websocket: WebSocket) -> None:
    await websocket.close(code=1008)


async def raises(websocket: WebSocket) -> None:
    raise WebSocketException(code=1008, reason="not allowed")


async def denies(websocket: WebSocket) -> None:
    await websocket.send_denial_response(
        PlainTextResponse("login first", status_code=401, headers={"x-reason": "auth"}))


async def home(request: Any) -> PlainTextResponse:
    return PlainTextResponse("http still works")


app = Starlette(routes=[
    Route("/", home),
    WebSocketRoute("/rooms/{name}", room),
    WebSocketRoute("/binary", binary),
    WebSocketRoute("/closes", closes),
    WebSocketRoute("/refuses", refuses),
    WebSocketRoute("/raises", raises),
    WebSocketRoute("/denies", denies),
])


def test_starlette_route_with_path_query_headers_json_and_subprotocol() -> None:
    disconnects.clear()

    async def scenario() -> list[Any]:
        async with serve(app) as srv:
            async with connect(srv.url("/rooms/lobby?user=ann"), subprotocols=["chat.v1"],  # type: ignore[list-item]
                               additional_headers={"X-Token": "t0k"}) as ws:
                hello = await ws.recv()
                await ws.send('{"n": 1}')
                reply = await ws.recv()
                subprotocol = ws.subprotocol
                await ws.close(4100)
            await wait_until(lambda: bool(disconnects))
            return [hello, reply, subprotocol]

    hello, reply, subprotocol = run(scenario())
    assert hello == '{"room":"lobby","user":"ann","token":"t0k"}'
    assert reply == '{"echo":{"n":1},"room":"lobby"}'
    assert subprotocol == "chat.v1"
    assert disconnects == [4100]


def test_starlette_binary_iteration_until_client_closes() -> None:
    async def scenario() -> list[bytes]:
        async with serve(app) as srv, connect(srv.url("/binary")) as ws:
            replies = []
            for chunk in (b"abc", b"\x00\x01\x02", b"x" * 100_000):
                await ws.send(chunk)
                replies.append(await ws.recv())
            return replies  # type: ignore[return-value]

    assert run(scenario()) == [b"cba", b"\x02\x01\x00", b"x" * 100_000]


def test_starlette_close_with_code_and_reason() -> None:
    async def scenario() -> tuple[int, str]:
        async with serve(app) as srv, connect(srv.url("/closes")) as ws:
            await ws.send("bye")
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 5)
            assert info.value.rcvd is not None
            return info.value.rcvd.code, info.value.rcvd.reason

    assert run(scenario()) == (4001, "kicked")


@pytest.mark.parametrize("path", ["/refuses", "/raises", "/nowhere"])
def test_starlette_refusals_before_accept_are_403(path: str) -> None:
    # Starlette closes before accepting (its own close, WebSocketException, no route); the
    # server turns that into 403 Forbidden, as the ASGI spec says.
    async def scenario() -> int:
        async with serve(app) as srv:
            with pytest.raises(InvalidStatus) as info:
                async with connect(srv.url(path)):
                    pass
            return info.value.response.status_code

    assert run(scenario()) == 403


def test_starlette_denial_response() -> None:
    async def scenario() -> tuple[int, str | None, bytes]:
        async with serve(app) as srv:
            with pytest.raises(InvalidStatus) as info:
                async with connect(srv.url("/denies")):
                    pass
            response = info.value.response
            return response.status_code, response.headers.get("x-reason"), bytes(response.body)

    assert run(scenario()) == (401, "auth", b"login first")


def test_starlette_http_and_websocket_routes_share_a_server() -> None:
    async def scenario() -> tuple[bytes, Any]:
        async with serve(app) as srv:
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            http = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            async with connect(srv.url("/rooms/x")) as ws:
                hello = await ws.recv()
            return http, hello

    http, hello = run(scenario())
    assert http.startswith(b"HTTP/1.1 200") and http.endswith(b"http still works")
    assert '"room":"x"' in hello
