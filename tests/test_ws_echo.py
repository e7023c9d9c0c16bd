"""WebSocket messages end to end, with the `websockets` library as an independent client.

Echo of text and binary, large and fragmented messages, the ASGI `websocket` scope, subprotocol
and header negotiation, permessage-deflate on and off (RFC 7692), pings, many concurrent
connections, and the bytes a client sends right behind its upgrade request.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from tests.ws_helpers import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    AppProbe,
    RawClient,
    close_payload,
    echo_app,
    encode_frame,
    run,
    serve,
    upgrade_request,
    wait_until,
)

websockets = pytest.importorskip("websockets")
from websockets.asyncio.client import connect  # noqa: E402


def test_text_and_binary_messages_are_echoed_with_their_type() -> None:
    async def scenario() -> list[Any]:
        async with serve(echo_app()) as srv, connect(srv.url()) as ws:
            await ws.send("héllo ✓")
            text = await ws.recv()
            await ws.send(b"\x00\xff\x10binary")
            data = await ws.recv()
            await ws.send("")
            empty_text = await ws.recv()
            await ws.send(b"")
            empty_bytes = await ws.recv()
            return [text, data, empty_text, empty_bytes]

    assert run(scenario()) == ["héllo ✓", b"\x00\xff\x10binary", "", b""]


def test_app_receives_connect_then_messages_in_order() -> None:
    probe = AppProbe()

    async def scenario() -> None:
        async with serve(echo_app(probe)) as srv, connect(srv.url()) as ws:
            for i in range(50):
                await ws.send(f"m{i}")
            replies = [await ws.recv() for _ in range(50)]
            assert replies == [f"m{i}" for i in range(50)]

    run(scenario())
    assert probe.received[0] == {"type": "websocket.connect"}
    texts = [m.get("text") for m in probe.received[1:51]]
    assert texts == [f"m{i}" for i in range(50)]
    assert all(m["type"] == "websocket.receive" and "bytes" not in m
               for m in probe.received[1:51])


@pytest.mark.parametrize("compression", ["deflate", None])
def test_large_binary_and_text_messages_round_trip(compression: str | None) -> None:
    # 5 MiB of incompressible bytes, and 3 MiB of text: many TCP segments, extended length.
    blob = os.urandom(5 * 1024 * 1024)
    text = "wébsocket " * (300 * 1024)

    async def scenario() -> tuple[bytes, str]:
        async with serve(echo_app()) as srv, connect(
                srv.url(), max_size=None, compression=compression) as ws:
            await ws.send(blob)
            got_blob = await ws.recv()
            await ws.send(text)
            got_text = await ws.recv()
            return got_blob, got_text

    got_blob, got_text = run(scenario(), timeout=30)
    assert got_blob == blob
    assert got_text == text


def test_fragmented_messages_are_reassembled_into_one_asgi_message() -> None:
    # RFC 6455 §5.4: a message may be split into frames; ASGI delivers whole messages.
    probe = AppProbe()

    async def scenario() -> list[Any]:
        async with serve(echo_app(probe)) as srv, connect(srv.url(), compression=None) as ws:
            await ws.send(["frag", "men", "ted ✓"])
            text = await ws.recv()
            await ws.send([b"\x01" * 1000, b"\x02" * 70000, b"\x03"])
            data = await ws.recv()
            return [text, data]

    text, data = run(scenario())
    assert text == "fragmented ✓"
    assert data == b"\x01" * 1000 + b"\x02" * 70000 + b"\x03"
    receives = [m for m in probe.received if m["type"] == "websocket.receive"]
    assert len(receives) == 2


def test_raw_fragments_with_an_interleaved_ping_form_one_message() -> None:
    # RFC 6455 §5.4: control frames may be injected in the middle of a fragmented message.
    probe = AppProbe()

    async def scenario() -> list[int]:
        async with serve(echo_app(probe), ws_per_message_deflate=False) as srv:
            client = await RawClient.opened(srv.port)
            client.send(OP_TEXT, b"ab", fin=False)
            client.send(0x9, b"in-between")
            client.send(0x0, b"cd", fin=False)
            client.send(0x0, b"ef", fin=True)
            pong = await client.read_frame()
            echo = await client.read_frame()
            client.send(OP_CLOSE, close_payload(1000))
            await client.read_until_close()
            client.close()
            assert pong.payload == b"in-between" and not pong.masked
            assert echo.payload == b"abcdef" and echo.fin
            return [pong.opcode, echo.opcode]

    assert run(scenario()) == [0xA, OP_TEXT]


def test_websocket_scope_follows_asgi_spec() -> None:
    probe = AppProbe()

    async def scenario() -> None:
        async with serve(echo_app(probe), root_path="/api") as srv, connect(
                srv.url("/chat/r%C3%A9sum%C3%A9?room=1&x=%20"),
                subprotocols=["v2.chat", "v1.chat"],  # type: ignore[list-item]
                additional_headers={"X-Token": "abc"}) as ws:
            await ws.send("x")
            await ws.recv()
            assert ws.local_address[1] == probe.scopes[0]["client"][1]

    run(scenario())
    scope = probe.scopes[0]
    assert scope["type"] == "websocket"
    assert scope["asgi"]["version"] == "3.0"
    assert scope["asgi"].get("spec_version") in ("2.3", "2.4")
    assert scope["http_version"] == "1.1"
    assert scope["scheme"] == "ws"
    assert scope["path"] == "/api/chat/résumé"
    assert scope["raw_path"] == b"/api/chat/r%C3%A9sum%C3%A9"
    assert scope["root_path"] == "/api"
    assert scope["query_string"] == b"room=1&x=%20"
    assert scope["subprotocols"] == ["v2.chat", "v1.chat"]
    assert scope["client"][0] == "127.0.0.1"
    assert scope["server"][0] == "127.0.0.1"
    headers = scope["headers"]
    assert all(isinstance(n, bytes) and isinstance(v, bytes) for n, v in headers)
    assert (b"x-token", b"abc") in headers
    assert (b"upgrade", b"websocket") in headers
    assert "websocket.http.response" in scope["extensions"]
    assert "method" not in scope


def test_accept_subprotocol_and_headers_reach_the_client() -> None:
    async def scenario() -> tuple[str | None, str | None]:
        app = echo_app(subprotocol="v1.chat", headers=[(b"x-session", b"42")])
        async with serve(app) as srv, connect(
                srv.url(), subprotocols=["v2.chat", "v1.chat"]) as ws:  # type: ignore[list-item]
            assert ws.response is not None
            return ws.subprotocol, ws.response.headers.get("x-session")

    assert run(scenario()) == ("v1.chat", "42")


def test_no_subprotocol_header_when_app_accepts_without_one() -> None:
    async def scenario() -> tuple[str | None, str | None]:
        async with serve(echo_app()) as srv, connect(
                srv.url(), subprotocols=["v1.chat"]) as ws:  # type: ignore[list-item]
            assert ws.response is not None
            return ws.subprotocol, ws.response.headers.get("sec-websocket-protocol")

    assert run(scenario()) == (None, None)


@pytest.mark.parametrize("server_deflate", [True, False])
@pytest.mark.parametrize("client_deflate", ["deflate", None])
def test_permessage_deflate_is_negotiated_only_when_both_sides_want_it(
        server_deflate: bool, client_deflate: str | None) -> None:
    # RFC 7692: the server may only answer with an extension the client offered.
    message = "compress me " * 2000

    async def scenario() -> tuple[str | None, Any]:
        async with serve(echo_app(), ws_per_message_deflate=server_deflate) as srv, connect(
                srv.url(), compression=client_deflate) as ws:
            await ws.send(message)
            reply = await ws.recv()
            assert ws.response is not None
            return ws.response.headers.get("sec-websocket-extensions"), reply

    extensions, reply = run(scenario())
    assert reply == message
    if server_deflate and client_deflate:
        assert extensions is not None and "permessage-deflate" in extensions
    else:
        assert extensions is None


def test_compressed_frames_are_smaller_on_the_wire() -> None:
    # With deflate the server sets RSV1 and sends far fewer bytes for repetitive text.
    message = "a" * 10000

    async def scenario() -> tuple[int, int]:
        async with serve(echo_app()) as srv:
            client = await RawClient.opened(
                srv.port, headers=[("Sec-WebSocket-Extensions", "permessage-deflate")])
            client.send(OP_TEXT, message.encode())
            frame = await client.read_frame()
            client.send(OP_CLOSE, close_payload(1000))
            await client.read_until_close()
            client.close()
            return frame.rsv, len(frame.payload)

    rsv, size = run(scenario())
    assert rsv == 0b100
    assert size < 200


def test_client_ping_gets_a_pong_with_the_same_payload() -> None:
    async def scenario() -> float:
        async with serve(echo_app()) as srv, connect(srv.url(), ping_interval=None) as ws:
            waiter = await ws.ping(b"are you there")
            return await asyncio.wait_for(waiter, 5)

    latency = run(scenario())
    assert latency >= 0


def test_server_sends_keepalive_pings_and_a_client_that_answers_stays_open() -> None:
    # --ws-ping-interval: the server pings; each pong clears the --ws-ping-timeout deadline.
    async def scenario() -> list[bytes]:
        async with serve(echo_app(), ws_ping_interval=0.1, ws_ping_timeout=0.15,
                         ws_per_message_deflate=False) as srv:
            client = await RawClient.opened(srv.port)
            pings = []
            for _ in range(4):
                frame = await client.read_frame(timeout=2)
                assert frame.opcode == OP_PING and not frame.masked
                pings.append(frame.payload)
                client.send(OP_PONG, frame.payload)
            client.send(OP_TEXT, b"still here")
            while (frame := await client.read_frame(timeout=2)).opcode == OP_PING:
                client.send(OP_PONG, frame.payload)
            assert frame.payload == b"still here"
            client.send(OP_CLOSE, close_payload(1000))
            await client.read_until_close()
            client.close()
            return pings

    assert len(run(scenario())) == 4


def test_websockets_client_survives_many_keepalive_pings() -> None:
    probe = AppProbe()

    async def scenario() -> None:
        async with serve(echo_app(probe), ws_ping_interval=0.05, ws_ping_timeout=0.5) as srv, \
                connect(srv.url(), ping_interval=None) as ws:
            await asyncio.sleep(0.5)
            await ws.send("still here")
            assert await ws.recv() == "still here"

    run(scenario())
    assert probe.received[-1]["type"] == "websocket.disconnect"
    assert probe.received[-1]["code"] == 1000


def test_two_hundred_concurrent_connections_each_get_their_own_echo() -> None:
    async def scenario() -> int:
        async with serve(echo_app(), ws_ping_interval=None) as srv:
            async def one(i: int) -> bool:
                async with connect(srv.url(f"/{i}"), ping_interval=None,
                                   open_timeout=20) as ws:
                    ok = True
                    for j in range(3):
                        await ws.send(f"{i}-{j}")
                        ok = ok and await ws.recv() == f"{i}-{j}"
                    return ok

            results = await asyncio.gather(*(one(i) for i in range(200)))
            await wait_until(lambda: not srv.server.server_state.connections)
            return sum(results)

    assert run(scenario(), timeout=40) == 200


def test_bytes_right_behind_the_upgrade_request_are_not_lost() -> None:
    # A client may pipeline its first frames in the same packet as the handshake.
    probe = AppProbe()

    async def scenario() -> list[bytes]:
        async with serve(echo_app(probe), ws_per_message_deflate=False) as srv:
            early = (encode_frame(OP_TEXT, b"first") + encode_frame(OP_BINARY, b"second")
                     + encode_frame(OP_TEXT, b"thi", fin=False))
            client = await RawClient.opened(srv.port, after=early)
            client.send(0x0, b"rd")
            frames = [await client.read_frame() for _ in range(3)]
            client.send(OP_CLOSE, close_payload(1000))
            await client.read_until_close()
            client.close()
            return [f.payload for f in frames]

    assert run(scenario()) == [b"first", b"second", b"third"]


def test_bytes_sent_before_the_app_accepts_are_delivered_after_accept() -> None:
    release = asyncio.Event()
    seen: list[Any] = []

    async def slow_accept(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await release.wait()
        await send({"type": "websocket.accept"})
        seen.append(await receive())
        seen.append(await receive())

    async def scenario() -> None:
        async with serve(slow_accept, ws_per_message_deflate=False) as srv:
            client = await RawClient.connect(srv.port)
            client.write(upgrade_request())
            await asyncio.sleep(0.05)
            client.send(OP_TEXT, b"early bird")
            await asyncio.sleep(0.05)
            release.set()
            head = await client.read_head()
            assert head.status == 101
            client.send(OP_CLOSE, close_payload(1000))
            await client.read_until_close()
            client.close()

    run(scenario())
    assert seen[0] == {"type": "websocket.receive", "text": "early bird"}
    assert seen[1]["type"] == "websocket.disconnect" and seen[1]["code"] == 1000


def test_http_keep_alive_and_head_timeouts_do_not_close_an_idle_websocket() -> None:
    # The HTTP protocol's timers belong to HTTP; after the upgrade only ws pings apply.
    async def scenario() -> str:
        async with serve(echo_app(), timeout_keep_alive=0.1, timeout_request_head=0.1,
                         ws_ping_interval=None) as srv, connect(
                srv.url(), ping_interval=None) as ws:
            await asyncio.sleep(0.5)
            await ws.send("still open")
            return str(await ws.recv())

    assert run(scenario()) == "still open"


def test_concurrent_large_messages_never_mix_bytes_between_connections() -> None:
    # Reads from every connection share one buffer per thread; each must be copied out intact.
    blobs = [os.urandom(1024 * 1024 + i) for i in range(8)]

    async def scenario() -> list[bool]:
        async with serve(echo_app(), ws_per_message_deflate=False) as srv:
            async def one(blob: bytes) -> bool:
                async with connect(srv.url(), max_size=None, compression=None) as ws:
                    await ws.send(blob)
                    return await ws.recv() == blob

            return list(await asyncio.gather(*(one(blob) for blob in blobs)))

    assert run(scenario(), timeout=30) == [True] * 8
