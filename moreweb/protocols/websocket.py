"""The WebSocket asyncio Protocol: socket bytes into the RFC 6455 codec, codec events into an
ASGI WebSocket cycle.

It takes over a connection from the HTTP protocol at the upgrade request (with any bytes that
arrived behind it), answers the opening handshake with the HTTP engine it inherited, and then
owns transport-level concerns only: flow control both ways, keepalive pings, the close
handshake timeout, and graceful shutdown (1012). ASGI message rules live in
`moreweb.asgi.websocket_cycle`; frame rules in `moreweb.websocket`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ..asgi.http_cycle import ClientDisconnected
from ..asgi.scope import websocket_scope
from ..asgi.websocket_cycle import WebSocketCycle
from ..http11 import (
    IDLE,
    SEND_RESPONSE,
    Data,
    EndOfMessage,
    InformationalResponse,
    LocalProtocolError,
    Request,
    Response,
)
from ..http11 import (
    Connection as HttpConnection,
)
from ..websocket import (
    BytesMessage,
    CloseReceived,
    ConnectionFailed,
    ConnectionState,
    DeflateOptions,
    HandshakeError,
    HandshakeRequest,
    Ping,
    Pong,
    TextMessage,
    accept,
    is_valid_code,
    validate_request,
)
from ..websocket import (
    Connection as WsConnection,
)
from ..websocket import LocalProtocolError as WsLocalProtocolError
from .flow import FlowControl
from .read_buffer import read_buffer

if TYPE_CHECKING:
    from ..config import Config
    from ..server_state import ServerState

logger = logging.getLogger("moreweb.error")

#: How long we wait for the peer's close frame after sending ours before dropping TCP.
CLOSE_TIMEOUT = 5.0
_GOING_AWAY = 1012  # "service restart": what uvicorn and browsers expect on shutdown


class WebSocketProtocol(FlowControl, asyncio.BufferedProtocol):
    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.config = config
        self.server_state = server_state
        self.app_state = app_state
        self.loop = loop or asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.http: HttpConnection | None = None
        self.ws: WsConnection | None = None
        self.cycle: WebSocketCycle | None = None
        self.handshake_request: HandshakeRequest | None = None
        self._init_flow()
        self._lost = False
        self._pending = b""
        self._ping_handle: asyncio.TimerHandle | None = None
        self._pong_deadline: asyncio.TimerHandle | None = None
        self._close_handle: asyncio.TimerHandle | None = None
        self.task: asyncio.Task[None] | None = None

    # -- takeover from the HTTP protocol ---------------------------------------------------------

    def handshake(self, transport: asyncio.Transport, http: HttpConnection, request: Request,
                  *, client: tuple[str, int] | None, server: tuple[str, int] | None,
                  scheme: str, tls: dict[str, Any] | None = None) -> None:
        self.transport = transport
        self.http = http
        self.server_state.connections.add(self)
        # The upgrade request must end right here: a body on a GET upgrade is not a handshake.
        event = http.next_event()
        try:
            if type(event) is not EndOfMessage:
                raise HandshakeError("WebSocket handshake request must not have a body")
            self.handshake_request = validate_request(request.method, request.http_version,
                                                      request.headers)
        except HandshakeError as exc:
            self.reject(exc.status_code, [(b"content-type", b"text/plain; charset=utf-8"),
                                          *exc.headers], exc.reason.encode(), False)
            return
        scope = websocket_scope(
            request, scheme="wss" if scheme == "https" else "ws", client=client, server=server,
            root_path=self.config.root_path, app_state=self.app_state,
            subprotocols=self.handshake_request.subprotocols,
            extensions={"websocket.http.response": {}, **({"tls": tls} if tls else {})})
        self.cycle = WebSocketCycle(self, scope, max(1, self.config.ws_max_queue))
        self.task = task = self.loop.create_task(self.cycle.run(self.config.loaded_app))
        self.server_state.tasks.add(task)
        task.add_done_callback(self.server_state.tasks.discard)

    # -- asyncio.BufferedProtocol ----------------------------------------------------------------

    def get_buffer(self, sizehint: int) -> memoryview:
        return read_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(read_buffer()[:nbytes]))

    def data_received(self, data: bytes) -> None:
        ws = self.ws
        if ws is None:
            # The app has not accepted yet: hold the bytes (bounded by the frame size limit).
            self._pending += data
            if len(self._pending) > self.config.ws_max_size + 16:
                self.abort()
            return
        ws.receive_data(data)
        self._drain_events()

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self.server_state.connections.discard(self)
        for handle in (self._ping_handle, self._pong_deadline, self._close_handle):
            if handle is not None:
                handle.cancel()
        if self.cycle is not None:
            self.cycle.disconnect(1006, "")
        self._release_drain_waiters()

    # -- codec events ----------------------------------------------------------------------------

    def _drain_events(self) -> None:
        ws = self.ws
        cycle = self.cycle
        assert ws is not None and cycle is not None
        while (event := ws.next_event()) is not None:
            kind = type(event)
            if kind is TextMessage or kind is BytesMessage:
                cycle.deliver(event.data)  # type: ignore[union-attr]
            elif kind is Ping:
                self._write(ws.reply_to_ping(event))  # type: ignore[arg-type]
            elif kind is Pong:
                if self._pong_deadline is not None:
                    self._pong_deadline.cancel()
                    self._pong_deadline = None
            elif kind is CloseReceived or kind is ConnectionFailed:
                # Our close reply (or the failure's close frame) goes out before TCP closes.
                self._write(ws.data_to_send())
                cycle.disconnect(event.code, event.reason)  # type: ignore[union-attr]
                self._close_transport()
                return

    # -- the WebSocketWire interface used by the cycle -----------------------------------------

    def accept(self, subprotocol: str | None, headers: list[tuple[bytes, bytes]]) -> None:
        assert self.http is not None and self.handshake_request is not None
        deflate = DeflateOptions() if self.config.ws_per_message_deflate else None
        try:
            response_headers, codec = accept(self.handshake_request, subprotocol, headers,
                                             deflate)
        except WsLocalProtocolError as exc:
            raise RuntimeError(str(exc)) from None
        # Informational heads carry no default fields in the engine, but a 101 is the whole
        # answer to this request: it gets Server, Date and --header like any response does.
        defaults = [(name, value) for name, _, value in (
            line.partition(b": ") for line in
            self.server_state.default_header_block.split(b"\r\n") if line)]
        self._write(self.http.send(InformationalResponse(101, [*defaults, *response_headers])))
        self.ws = WsConnection(max_size=self.config.ws_max_size, deflate=codec)
        pending, self._pending = self._pending, b""
        trailing, _ = self.http.trailing_data
        self.http = None
        self._schedule_ping()
        if trailing or pending:
            self.ws.receive_data(trailing + pending)
            self._drain_events()

    def reject(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes,
               more_body: bool) -> None:
        """Answer the upgrade request with a plain HTTP response (403, 4xx, app denial)."""
        http = self.http
        if http is None or self._lost:
            return
        try:
            if http.our_state is SEND_RESPONSE or http.our_state is IDLE:
                http.default_fields = self.server_state.default_header_block
                self._write(http.send(Response(status, [*headers, (b"connection", b"close")])))
            if body:
                self._write(http.send(Data(body)))
            if not more_body:
                self._write(http.send(EndOfMessage()))
                self._close_transport()
        except LocalProtocolError:
            self.abort()

    def send_message(self, data: str | bytes) -> None:
        ws = self.ws
        if ws is None or ws.state is not ConnectionState.OPEN:
            raise ClientDisconnected("WebSocket is closed")
        self._write(ws.send_text(data) if isinstance(data, str) else ws.send_bytes(data))

    def close(self, code: int, reason: str) -> None:
        ws = self.ws
        if ws is None:
            self._close_transport()
            return
        try:
            self._write(ws.send_close(code, reason))
        except WsLocalProtocolError:
            # The app's code or reason cannot travel (1006, or over 123 bytes, RFC 6455 §5.5):
            # keep a valid code and cut the reason at a character boundary instead.
            reason = reason.encode("utf-8")[:123].decode("utf-8", "ignore")
            self._write(ws.send_close(code if is_valid_code(code) else 1000, reason))
        if ws.state is ConnectionState.CLOSED:
            self._close_transport()
        elif self._close_handle is None and not self._lost:
            # RFC 6455 §7.1.1: wait for the peer's close, but not forever.
            self._close_handle = self.loop.call_later(CLOSE_TIMEOUT, self.abort)

    def abort(self) -> None:
        if self.transport is not None and not self._lost:
            self.transport.abort()

    # -- helpers ---------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if data and not self._lost and self.transport is not None:
            self.transport.write(data)

    def _close_transport(self) -> None:
        if self.transport is not None and not self._lost:
            self.transport.close()

    def _schedule_ping(self) -> None:
        interval = self.config.ws_ping_interval
        if interval and not self._lost:
            self._ping_handle = self.loop.call_later(interval, self._send_ping)

    def _send_ping(self) -> None:
        ws = self.ws
        if ws is None or self._lost or ws.state is not ConnectionState.OPEN:
            return
        self._write(ws.send_ping(b"moreweb"))
        timeout = self.config.ws_ping_timeout
        if timeout and self._pong_deadline is None:
            self._pong_deadline = self.loop.call_later(timeout, self._ping_timed_out)
        self._schedule_ping()

    def _ping_timed_out(self) -> None:
        self._pong_deadline = None
        logger.info("WebSocket keepalive ping timed out; closing the connection")
        if self.cycle is not None:
            self.cycle.disconnect(1011, "keepalive ping timeout")
        self.abort()

    # -- graceful shutdown -------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Server shutdown: close with 1012 and tell the app the socket is going away."""
        if self.ws is not None and self.ws.state is ConnectionState.OPEN:
            self.close(_GOING_AWAY, "")
        elif self.ws is None:
            self.reject(503, [(b"content-type", b"text/plain; charset=utf-8")],
                        b"Service Unavailable", False)
        if self.cycle is not None:
            self.cycle.disconnect(_GOING_AWAY, "")
