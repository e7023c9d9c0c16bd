"""The WebSocket echo benchmark measures what it claims: its lean client counts whole echoed
messages however the server's bytes are split, answers pings, and a tiny real run against
moreweb produces a report with a rate.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from bench import ws_echo
from tests.ws_helpers import apply_mask


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)


def server_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    length = len(payload)
    first = (0x80 if fin else 0) | opcode
    if length < 126:
        return bytes([first, length]) + payload
    if length < 1 << 16:
        return bytes([first, 126]) + length.to_bytes(2, "big") + payload
    return bytes([first, 127]) + length.to_bytes(8, "big") + payload


def opened_client(frame: bytes = b"F") -> tuple[ws_echo.LeanClient, FakeTransport,
                                                 ws_echo.Tally]:
    tally = ws_echo.Tally()
    tally.counting = True

    async def make() -> tuple[ws_echo.LeanClient, FakeTransport]:
        opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        client = ws_echo.LeanClient(b"REQ", frame, 10, tally, opened)
        transport = FakeTransport()
        client.connection_made(transport)  # type: ignore[arg-type]
        client.data_received(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
        assert opened.done() and opened.exception() is None
        return client, transport

    client, transport = asyncio.run(make())
    assert transport.written == [b"REQ"]
    transport.written.clear()
    return client, transport, tally


def test_client_frame_is_masked_and_decodes_to_the_payload() -> None:
    for size in (0, 5, 125, 126, 65535, 65536, 1 << 20):
        payload = os.urandom(size)
        frame = ws_echo.client_frame(0x2, payload)
        assert frame[0] == 0x82 and frame[1] & 0x80
        header = 2 + (2 if 126 <= size < 65536 else 8 if size >= 65536 else 0)
        mask = frame[header:header + 4]
        assert apply_mask(frame[header + 4:], mask) == payload


def test_lean_client_counts_whole_messages_across_any_split() -> None:
    stream = (server_frame(0x1, b"a" * 32) + server_frame(0x2, b"b" * 70000)
              + server_frame(0x1, b"par", fin=False) + server_frame(0x0, b"tial")
              + server_frame(0x2, b"c" * 300))
    for step in (1, 3, 7, 1000, len(stream)):
        client, transport, tally = opened_client()
        for start in range(0, len(stream), step):
            client.data_received(stream[start:start + step])
        assert tally.messages == 4, step
        assert transport.written == [b"F"] * 4  # the next message after each echo


def test_lean_client_answers_pings_and_ignores_them_as_messages() -> None:
    client, transport, tally = opened_client()
    client.data_received(server_frame(0x9, b"keepalive") + server_frame(0x1, b"x"))
    assert tally.messages == 1
    pong = transport.written[0]
    assert pong[0] == 0x8A and apply_mask(pong[6:], pong[2:6]) == b"keepalive"
    assert transport.written[1] == b"F"


def test_echo_app_answers_text_and_bytes_in_kind() -> None:
    sent: list[dict[str, Any]] = []
    incoming = iter([{"type": "websocket.connect"},
                     {"type": "websocket.receive", "text": "hi"},
                     {"type": "websocket.receive", "bytes": b"\x00"},
                     {"type": "websocket.disconnect", "code": 1000}])

    async def receive() -> dict[str, Any]:
        return next(incoming)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(ws_echo.app({"type": "websocket"}, receive, send))
    assert sent == [{"type": "websocket.accept"},
                    {"type": "websocket.send", "text": "hi"},
                    {"type": "websocket.send", "bytes": b"\x00"}]


def test_tiny_real_run_against_moreweb_reports_rates(capsys: Any) -> None:
    code = ws_echo.main(["--servers", "moreweb", "--rounds", "1", "--duration", "0.3",
                         "--warmup", "0.1", "--connections", "4", "--big-connections", "1",
                         "--client-loop", "asyncio", "--client-procs", "2",
                         "--server-warmup", "0.1"])
    assert code == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| moreweb |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert float(cells[1].replace(",", "")) > 0  # round trips/s
    assert float(cells[6].replace(",", "")) > 0  # MiB/s
    assert "failed" not in out
