"""One ASGI WebSocket session: the app's `receive` and `send` (ASGI spec 2.4, websocket).

It owns the ASGI message rules: connect first; accept, close (403 before accept) or an HTTP
denial response (`websocket.http.response`); then messages both ways; disconnect with a code.
The protocol below turns wire events into `deliver()`/`disconnect()` calls and executes the
handshake, frames and closes the cycle asks for through the `WebSocketWire` interface. It must
never touch a socket or the codec directly.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Any, Protocol

from .http_cycle import ASGIApp, ClientDisconnected

Message = dict[str, Any]
logger = logging.getLogger("moreweb.error")

_CONNECT: Message = {"type": "websocket.connect"}


class WebSocketWire(Protocol):
    write_paused: bool

    def accept(self, subprotocol: str | None, headers: list[tuple[bytes, bytes]]) -> None: ...
    def reject(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes,
               more_body: bool) -> None: ...
    def send_message(self, data: str | bytes) -> None: ...
    def close(self, code: int, reason: str) -> None: ...
    def abort(self) -> None: ...
    async def drain(self) -> None: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...


class WebSocketCycle:
    # Handshake states of the cycle, from the app's point of view.
    CONNECTING, DENYING, ACCEPTED, CLOSED = range(4)

    def __init__(self, wire: WebSocketWire, scope: dict[str, Any], max_queue: int) -> None:
        self.wire = wire
        self.scope = scope
        self.state = self.CONNECTING
        self._connect_sent = False
        self._queue: collections.deque[Message] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._max_queue = max_queue
        self.closed_by_peer: tuple[int, str] | None = None

    # -- driven by the protocol ------------------------------------------------------------------

    def deliver(self, data: str | bytes) -> None:
        if isinstance(data, str):
            self._queue.append({"type": "websocket.receive", "text": data})
        else:
            self._queue.append({"type": "websocket.receive", "bytes": data})
        if len(self._queue) >= self._max_queue:
            # An app that stops receiving stops us reading: TCP pushes back on the client.
            self.wire.pause_reading()
        self._wake()

    def disconnect(self, code: int, reason: str = "") -> None:
        if self.closed_by_peer is None:
            self.closed_by_peer = (code, reason)
            self._queue.append({"type": "websocket.disconnect", "code": code, "reason": reason})
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._waiter = None

    async def run(self, app: ASGIApp) -> None:
        try:
            await app(self.scope, self.receive, self.send)
        except BaseException as exc:
            if isinstance(exc, ClientDisconnected) and self.closed_by_peer is not None:
                return
            if not isinstance(exc, asyncio.CancelledError):
                logger.error("Exception in ASGI application", exc_info=exc)
            self._fail_after_error()
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            return
        if self.state == self.CONNECTING:
            logger.error("ASGI callable returned without sending handshake.")
            self.wire.reject(500, [(b"content-type", b"text/plain; charset=utf-8")],
                             b"Internal Server Error", False)
        elif self.state == self.DENYING:
            logger.error("ASGI callable returned without completing response.")
            self.wire.abort()
        elif self.state == self.ACCEPTED:
            self.state = self.CLOSED
            self.wire.close(1000, "")

    def _fail_after_error(self) -> None:
        if self.state == self.CONNECTING:
            self.wire.reject(500, [(b"content-type", b"text/plain; charset=utf-8")],
                             b"Internal Server Error", False)
        elif self.state == self.ACCEPTED:
            self.wire.close(1011, "")
        else:
            self.wire.abort()
        self.state = self.CLOSED

    # -- the app's receive -----------------------------------------------------------------------

    async def receive(self) -> Message:
        if not self._connect_sent:
            self._connect_sent = True
            return _CONNECT
        while not self._queue:
            # After our own close this waits for the peer's close frame, a dropped connection
            # (1006) or the close timeout, whichever comes first.
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            await waiter
        message = self._queue.popleft()
        if len(self._queue) < self._max_queue:
            self.wire.resume_reading()
        return message

    # -- the app's send --------------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        kind = message["type"]
        state = self.state
        if self.closed_by_peer is not None and state != self.DENYING:
            raise ClientDisconnected(f"WebSocket closed with code {self.closed_by_peer[0]}")
        if state == self.CONNECTING:
            if kind == "websocket.accept":
                headers = list(message.get("headers") or [])
                self.wire.accept(message.get("subprotocol"), headers)
                self.state = self.ACCEPTED
            elif kind == "websocket.close":
                # Closing before accepting rejects the handshake (spec: HTTP 403).
                self.wire.reject(403, [], b"", False)
                self.state = self.CLOSED
            elif kind == "websocket.http.response.start":
                self.state = self.DENYING
                self._denial_status = int(message["status"])
                self._denial_headers = list(message.get("headers") or [])
            else:
                raise RuntimeError(f"Expected ASGI message 'websocket.accept', "
                                   f"'websocket.close' or 'websocket.http.response.start', "
                                   f"but got {kind!r}.")
        elif state == self.DENYING:
            if kind != "websocket.http.response.body":
                raise RuntimeError(f"Expected ASGI message 'websocket.http.response.body', but "
                                   f"got {kind!r}.")
            more = bool(message.get("more_body", False))
            self.wire.reject(self._denial_status, self._denial_headers,
                             bytes(message.get("body", b"")), more)
            self._denial_headers = []
            if not more:
                self.state = self.CLOSED
        elif state == self.ACCEPTED:
            if kind == "websocket.send":
                text = message.get("text")
                data = message.get("bytes")
                if text is not None:
                    self.wire.send_message(text)
                elif data is not None:
                    self.wire.send_message(bytes(data))
                else:
                    raise RuntimeError("'websocket.send' needs 'text' or 'bytes'")
                if self.wire.write_paused:
                    await self.wire.drain()
            elif kind == "websocket.close":
                self.state = self.CLOSED
                self.wire.close(int(message.get("code") or 1000), message.get("reason") or "")
            else:
                raise RuntimeError(f"Expected ASGI message 'websocket.send' or "
                                   f"'websocket.close', but got {kind!r}.")
        else:
            raise ClientDisconnected(f"Unexpected ASGI message {kind!r}, after sending "
                                     "'websocket.close' or response already completed.")
