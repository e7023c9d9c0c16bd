"""A peer that breaks RFC 6455 is failed with the right close code, on a raw socket.

Every case sends bytes a real client library would refuse to produce, then checks the close
frame the server answers with (§7.4.1 codes), that the server closes TCP, and that the app is
told with `websocket.disconnect`. Also the keepalive: a peer that never answers pings is closed
after `ws_ping_interval + ws_ping_timeout`.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from typing import Any

import pytest

from tests.ws_helpers import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
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
)

websockets = pytest.importorskip("websockets")
from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402


async def fail_with(wire: bytes, deflate: bool = False, **options: Any
                    ) -> tuple[int | None, str, bool, dict[str, Any]]:
    """Send `wire` after a good handshake; return (close code, reason, TCP closed, app's last)."""
    probe = AppProbe()
    options.setdefault("ws_per_message_deflate", deflate)
    async with serve(echo_app(probe), **options) as srv:
        headers = [("Sec-WebSocket-Extensions", "permessage-deflate")] if deflate else []
        client = await RawClient.opened(srv.port, headers=headers)
        client.write(wire)
        frame = await client.read_until_close()
        closed = await client.closed_by_server()
        client.close()
        last = await probe.disconnect()
        return frame.close_code, frame.payload[2:].decode("utf-8"), closed, last


VIOLATIONS_1002 = {
    "unmasked frame": encode_frame(OP_TEXT, b"hello", mask=None),
    "reserved data opcode 0x3": encode_frame(0x3, b"x"),
    "reserved control opcode 0xB": encode_frame(0xB, b""),
    "RSV1 without an extension": encode_frame(OP_TEXT, b"x", rsv=0b100),
    "RSV2": encode_frame(OP_BINARY, b"x", rsv=0b010),
    "RSV3": encode_frame(OP_BINARY, b"x", rsv=0b001),
    "fragmented ping": encode_frame(OP_PING, b"p", fin=False),
    "control payload over 125 bytes": encode_frame(OP_PING, b"p" * 126),
    "continuation without a start": encode_frame(OP_CONT, b"orphan"),
    "new message inside a fragmented one": (encode_frame(OP_TEXT, b"a", fin=False)
                                            + encode_frame(OP_BINARY, b"b")),
    "close payload of one byte": encode_frame(OP_CLOSE, b"\x03"),
    "close code 1005 on the wire": encode_frame(OP_CLOSE, close_payload(1005)),
    "close code 999": encode_frame(OP_CLOSE, close_payload(999)),
    "close code 1004 (reserved)": encode_frame(OP_CLOSE, close_payload(1004)),
    "close code 2000 (unassigned)": encode_frame(OP_CLOSE, close_payload(2000)),
}


@pytest.mark.parametrize("wire", VIOLATIONS_1002.values(), ids=VIOLATIONS_1002.keys())
def test_protocol_violation_closes_with_1002(wire: bytes) -> None:
    # RFC 6455 §5.1 (masking), §5.2 (RSV, opcodes), §5.4 (fragmentation), §5.5 (control
    # frames), §7.4 (close codes): "_Fail the WebSocket Connection_" with 1002.
    code, _, closed, last = run(fail_with(wire))
    assert code == 1002
    assert closed
    assert last["type"] == "websocket.disconnect"
    assert last["code"] == 1002


INVALID_UTF8 = {
    "text frame": encode_frame(OP_TEXT, b"caf\xc3"),
    "lone continuation byte": encode_frame(OP_TEXT, b"ok \x80 not ok"),
    "surrogate": encode_frame(OP_TEXT, b"\xed\xa0\x80"),
    "split over fragments": (encode_frame(OP_TEXT, b"fine\xf0\x9f", fin=False)
                             + encode_frame(OP_CONT, b"\x98")),
    "close reason": encode_frame(OP_CLOSE, close_payload(1000)[:2] + b"\xff\xfe"),
}


@pytest.mark.parametrize("wire", INVALID_UTF8.values(), ids=INVALID_UTF8.keys())
def test_invalid_utf8_closes_with_1007(wire: bytes) -> None:
    # RFC 6455 §8.1: text (and close reasons) must be valid UTF-8, else fail with 1007.
    code, _, closed, last = run(fail_with(wire))
    assert code == 1007
    assert closed
    assert last["code"] == 1007


def test_valid_utf8_split_across_fragments_is_accepted() -> None:
    # The same code point split at a frame boundary is fine once the message is whole.
    probe = AppProbe()

    async def scenario() -> bytes:
        async with serve(echo_app(probe), ws_per_message_deflate=False) as srv:
            client = await RawClient.opened(srv.port)
            client.write(encode_frame(OP_TEXT, b"smile \xf0\x9f", fin=False)
                         + encode_frame(OP_CONT, b"\x98\x80"))
            frame = await client.read_frame()
            client.send(OP_CLOSE, close_payload(1000))
            await client.read_until_close()
            client.close()
            return frame.payload

    assert run(scenario()) == "smile 😀".encode()


@pytest.mark.parametrize("wire", [
    encode_frame(OP_BINARY, b"x" * 1025),
    encode_frame(OP_TEXT, b"x" * 600, fin=False) + encode_frame(OP_CONT, b"x" * 600),
    # Only the header: the length alone is over the limit, no need to wait for the payload.
    struct.pack("!BBQ", 0x82, 0xFF, 1 << 40) + b"mask",
], ids=["one frame", "fragments adding up", "announced length"])
def test_message_over_ws_max_size_closes_with_1009(wire: bytes) -> None:
    # RFC 6455 §7.4.1: 1009, a message too big to process.
    code, _, closed, last = run(fail_with(wire, ws_max_size=1024))
    assert code == 1009
    assert closed
    assert last["code"] == 1009


def test_message_exactly_at_ws_max_size_is_accepted() -> None:
    async def scenario() -> int:
        async with serve(echo_app(), ws_max_size=1024) as srv, connect(
                srv.url(), compression=None) as ws:
            await ws.send(b"x" * 1024)
            return len(await ws.recv())

    assert run(scenario()) == 1024


def test_compressed_message_inflating_past_ws_max_size_closes_with_1009() -> None:
    # A small deflate bomb: 40 bytes on the wire, 1 MiB once inflated.
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = compressor.compress(b"\0" * (1 << 20)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    payload = payload[:-4]  # RFC 7692 §7.2.1: drop the 00 00 ff ff tail
    assert len(payload) < 2000
    code, _, closed, last = run(fail_with(encode_frame(OP_BINARY, payload, rsv=0b100),
                                          deflate=True, ws_max_size=64 * 1024))
    assert code == 1009
    assert closed
    assert last["code"] == 1009


def test_websockets_client_sending_too_much_is_closed_with_1009() -> None:
    async def scenario() -> int:
        async with serve(echo_app(), ws_max_size=1000) as srv, connect(srv.url()) as ws:
            await ws.send("small")
            assert await ws.recv() == "small"
            await ws.send("y" * 5000)
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 5)
            assert info.value.rcvd is not None
            return info.value.rcvd.code

    assert run(scenario()) == 1009


def test_peer_that_never_answers_pings_is_closed_after_interval_plus_timeout() -> None:
    # --ws-ping-interval 0.2 --ws-ping-timeout 0.2: the first ping leaves at 0.2 s, and with
    # no pong by 0.4 s the connection is unusable and goes away.
    probe = AppProbe()

    async def scenario() -> tuple[float, int]:
        async with serve(echo_app(probe), ws_ping_interval=0.2, ws_ping_timeout=0.2) as srv:
            loop = asyncio.get_running_loop()
            started = loop.time()  # before the handshake: the server's clock starts later
            client = await RawClient.opened(srv.port)
            pings = 0
            try:
                while True:
                    frame = await client.read_frame(timeout=3)
                    pings += frame.opcode == OP_PING
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            elapsed = loop.time() - started
            client.close()
            await probe.disconnect()
            return elapsed, pings

    elapsed, pings = run(scenario())
    assert pings >= 1
    assert 0.4 <= elapsed < 2.0
    assert probe.received[-1]["type"] == "websocket.disconnect"
    assert probe.received[-1]["code"] in (1006, 1011)


def test_unsolicited_pong_is_ignored() -> None:
    # RFC 6455 §5.5.3: a pong may be sent unsolicited; no response is expected.
    async def scenario() -> bytes:
        async with serve(echo_app(), ws_per_message_deflate=False) as srv:
            client = await RawClient.opened(srv.port)
            client.send(OP_PONG, b"heartbeat")
            client.send(OP_TEXT, b"after pong")
            frame = await client.read_frame()
            client.send(OP_CLOSE, close_payload(1000))
            await client.read_until_close()
            client.close()
            return frame.payload

    assert run(scenario()) == b"after pong"


def test_frames_after_the_client_close_are_not_delivered() -> None:
    # RFC 6455 §5.5.1: after a close frame, no more data frames.
    probe = AppProbe()

    async def scenario() -> None:
        async with serve(echo_app(probe), ws_per_message_deflate=False) as srv:
            client = await RawClient.opened(srv.port)
            client.write(encode_frame(OP_CLOSE, close_payload(1000))
                         + encode_frame(OP_TEXT, b"ghost"))
            frame = await client.read_until_close()
            assert frame.close_code == 1000
            assert await client.closed_by_server()
            client.close()
            await probe.disconnect()

    run(scenario())
    assert [m for m in probe.received if m.get("text") == "ghost"] == []
