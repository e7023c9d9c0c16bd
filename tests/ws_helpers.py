"""Shared tools for the WebSocket black-box tests: an embedded server and a raw RFC 6455 peer.

`serve()` runs a real `moreweb.server.Server` on 127.0.0.1 port 0 inside the test's own event
loop (so an app can hand Python objects straight to the test) and always stops it. `RawClient`
speaks the wire by hand, for what a well-behaved client library refuses to do: unmasked frames,
invalid UTF-8, never answering pings, bytes glued to the upgrade request. Everything here waits
with a timeout; nothing may hang the suite or leave a server listening.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from moreweb.config import Config
from moreweb.server import Server

T = TypeVar("T")
Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

HOST = "127.0.0.1"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
WAIT = 5.0  # upper bound for any single expected event


def run(coro: Coroutine[Any, Any, T], timeout: float = 15.0) -> T:
    """Run a test scenario in a fresh loop, failing instead of hanging past `timeout`."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


async def wait_until(predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


@dataclass
class Running:
    server: Server
    port: int

    def url(self, path: str = "/") -> str:
        return f"ws://{HOST}:{self.port}{path}"


def small_buffer_listener(size: int = 32 * 1024) -> socket.socket:
    """A listening socket whose accepted connections keep a small, fixed receive buffer.

    Linux autotunes loopback buffers up to tens of MiB, which would hide whether the server
    stops reading; SO_RCVBUF set before listen() is inherited by accepted sockets.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    sock.bind((HOST, 0))
    sock.listen(16)
    sock.setblocking(False)
    return sock


@contextlib.asynccontextmanager
async def serve(app: App, sockets: list[socket.socket] | None = None,
                **options: Any) -> AsyncIterator[Running]:
    """An embedded server for `app`; `options` are Config keywords (ws_max_size=..., ...)."""
    options.setdefault("lifespan", "off")
    options.setdefault("timeout_graceful_shutdown", 3)
    server = Server(Config(app, host=HOST, port=0, **options))
    task = asyncio.get_running_loop().create_task(server.serve(sockets))
    try:
        await wait_until(lambda: server.started or task.done())
        if not server.started:
            raise AssertionError(f"server did not start (exit code {server.exit_code})")
        sockets = server.servers[0].sockets
        yield Running(server, int(sockets[0].getsockname()[1]))
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(task, 10)
        except BaseException:
            server.force_exit = True
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            raise


class AppProbe:
    """What an app saw, for the test to inspect: scopes, messages, exceptions from `send`."""

    def __init__(self) -> None:
        self.scopes: list[Scope] = []
        self.received: list[Message] = []
        self.errors: list[BaseException] = []
        self.done = asyncio.Event()

    def types(self) -> list[str]:
        return [m["type"] for m in self.received]

    async def receive_from(self, receive: Receive) -> Message:
        message = await receive()
        self.received.append(message)
        return message

    async def disconnect(self, timeout: float = WAIT) -> Message:
        """Wait for the app to have received websocket.disconnect; return it."""
        await wait_until(lambda: "websocket.disconnect" in self.types(), timeout)
        return next(m for m in self.received if m["type"] == "websocket.disconnect")


def echo_app(probe: AppProbe | None = None, **accept: Any) -> App:
    """Accept (with `accept` keys, e.g. subprotocol=...) and echo every message until closed."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        probe_ = probe or AppProbe()
        probe_.scopes.append(scope)
        try:
            assert (await probe_.receive_from(receive))["type"] == "websocket.connect"
            await send({"type": "websocket.accept", **accept})
            while True:
                message = await probe_.receive_from(receive)
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("text") is not None:
                    await send({"type": "websocket.send", "text": message["text"]})
                else:
                    await send({"type": "websocket.send", "bytes": message["bytes"]})
        except BaseException as exc:
            probe_.errors.append(exc)
            raise
        finally:
            probe_.done.set()

    return app


# -- the raw peer ---------------------------------------------------------------------------------


def new_key() -> bytes:
    return base64.b64encode(os.urandom(16))


def upgrade_request(path: str = "/", *, key: bytes | None = None,
                    headers: list[tuple[str, str]] | None = None,
                    version: bytes = b"13", method: bytes = b"GET",
                    http_version: bytes = b"1.1") -> bytes:
    """An opening handshake request; `headers` are added (or, with value None, not sent)."""
    fields: dict[str, str | None] = {
        "Host": f"{HOST}",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": (key or new_key()).decode("ascii"),
        "Sec-WebSocket-Version": version.decode("ascii"),
    }
    extra: list[tuple[str, str]] = []
    for name, value in headers or []:
        if name in fields:
            fields[name] = value
        else:
            extra.append((name, value))
    lines = [method + b" " + path.encode("ascii") + b" HTTP/" + http_version]
    lines += [f"{n}: {v}".encode("latin-1") for n, v in fields.items() if v is not None]
    lines += [f"{n}: {v}".encode("latin-1") for n, v in extra]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def encode_frame(opcode: int, payload: bytes = b"", *, fin: bool = True,
                 mask: bytes | None = b"\x37\xfa\x21\x3d", rsv: int = 0) -> bytes:
    """One frame as a client sends it (masked unless `mask` is None), RFC 6455 §5.2."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    length = len(payload)
    mask_bit = 0x80 if mask is not None else 0
    if length < 126:
        head = struct.pack("!BB", first, mask_bit | length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        head = struct.pack("!BBQ", first, mask_bit | 127, length)
    if mask is None:
        return head + payload
    return head + mask + apply_mask(payload, mask)


def apply_mask(payload: bytes, mask: bytes) -> bytes:
    if not payload:
        return b""
    key = int.from_bytes((mask * (len(payload) // 4 + 1))[: len(payload)], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(len(payload), "big")


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack("!H", code) + reason.encode("utf-8")


@dataclass
class Frame:
    fin: bool
    rsv: int
    opcode: int
    masked: bool
    payload: bytes

    @property
    def close_code(self) -> int | None:
        assert self.opcode == OP_CLOSE
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    @property
    def close_reason(self) -> str:
        return self.payload[2:].decode("utf-8")


@dataclass
class Head:
    status: int
    headers: list[tuple[str, str]]  # names lowercased

    def get(self, name: str) -> str | None:
        values = [v for n, v in self.headers if n == name]
        return values[0] if values else None


class RawClient:
    """A TCP connection on which the test writes and reads WebSocket bytes itself."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, buffer_size: int | None = None) -> RawClient:
        """Connect; `buffer_size` pins the kernel's send and receive buffers (no autotuning)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if buffer_size is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer_size)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer_size)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (HOST, port)),
                                   WAIT)
        except BaseException:
            sock.close()
            raise
        reader, writer = await asyncio.open_connection(sock=sock)
        return cls(reader, writer)

    @classmethod
    async def opened(cls, port: int, path: str = "/", after: bytes = b"",
                     buffer_size: int | None = None, **request: Any) -> RawClient:
        """Connect and complete the handshake (asserting 101); `after` rides in the same write."""
        client = await cls.connect(port, buffer_size)
        client.write(upgrade_request(path, **request) + after)
        head = await client.read_head()
        assert head.status == 101, head
        return client

    def write(self, data: bytes) -> None:
        self.writer.write(data)

    def send(self, opcode: int, payload: bytes = b"", **options: Any) -> None:
        self.writer.write(encode_frame(opcode, payload, **options))

    async def read_head(self, timeout: float = WAIT) -> Head:
        raw = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = []
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers.append((name.strip().lower(), value.strip()))
        return Head(status, headers)

    async def read_body(self, head: Head, timeout: float = WAIT) -> bytes:
        length = head.get("content-length")
        if length is not None:
            return await asyncio.wait_for(self.reader.readexactly(int(length)), timeout)
        if head.get("transfer-encoding") != "chunked":
            # Close-delimited (RFC 9112 §6.3 item 8), e.g. an answer to an HTTP/1.0 request.
            return await asyncio.wait_for(self.reader.read(), timeout)
        body = b""
        while True:
            size_line = await asyncio.wait_for(self.reader.readuntil(b"\r\n"), timeout)
            size = int(size_line.split(b";")[0], 16)
            chunk = await asyncio.wait_for(self.reader.readexactly(size + 2), timeout)
            if size == 0:
                return body
            body += chunk[:-2]

    async def read_frame(self, timeout: float = WAIT) -> Frame:
        read = self.reader.readexactly
        first, second = await asyncio.wait_for(read(2), timeout)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await asyncio.wait_for(read(2), timeout))
        elif length == 127:
            (length,) = struct.unpack("!Q", await asyncio.wait_for(read(8), timeout))
        mask = await asyncio.wait_for(read(4), timeout) if second & 0x80 else None
        payload = await asyncio.wait_for(read(length), timeout) if length else b""
        if mask is not None:
            payload = apply_mask(payload, mask)
        return Frame(bool(first & 0x80), (first >> 4) & 0x7, first & 0x0F, mask is not None,
                     payload)

    async def read_until_close(self, timeout: float = WAIT) -> Frame:
        """Skip data and ping frames up to the server's close frame."""
        while True:
            frame = await self.read_frame(timeout)
            if frame.opcode == OP_CLOSE:
                return frame

    async def closed_by_server(self, timeout: float = WAIT) -> bool:
        """True once the server has closed TCP (EOF or reset) within `timeout`."""
        try:
            while await asyncio.wait_for(self.reader.read(65536), timeout):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            return True
        except asyncio.TimeoutError:
            return False
        return True

    def close(self) -> None:
        self.writer.close()

    def abort(self) -> None:
        transport = self.writer.transport
        transport.abort()
