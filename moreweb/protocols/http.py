"""The HTTP/1.1 asyncio Protocol: socket bytes into the engine, engine events into ASGI cycles.

It owns the transport-level concerns and nothing else: flow control in both directions,
keep-alive and request-head timeouts (slowloris protection), pipelining order, write batching,
error responses for requests the engine rejects, concurrency limits, graceful shutdown, and
handing WebSocket upgrades to their own protocol. ASGI message rules live in
`moreweb.asgi.http_cycle`; HTTP grammar lives in `moreweb.http11`.

Hot path: `data_received` -> `_process` -> `HttpCycle` -> `write`; guarded by `bench/`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import TYPE_CHECKING, Any

from ..asgi import runner
from ..asgi.http_cycle import HttpCycle
from ..asgi.scope import http_scope
from ..http11 import (
    NEED_DATA,
    PAUSED,
    Connection,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Limits,
    LocalProtocolError,
    RemoteProtocolError,
    Request,
    Response,
)
from ..http11.states import DONE, IDLE, MUST_CLOSE, SEND_RESPONSE
from ..websocket.handshake import is_websocket_upgrade
from .flow import FlowControl
from .read_buffer import read_buffer
from .timer import Deadline

if TYPE_CHECKING:
    from ..config import Config
    from ..server_state import ServerState

logger = logging.getLogger("moreweb.error")

#: Response bytes gathered for one write before they go to the transport regardless.
CORK_LIMIT = 64 * 1024
#: Pipelined bytes held while the current response is produced; past this, stop reading.
PIPELINE_HIGH_WATER = 256 * 1024
_TCP_FAMILIES = (socket.AF_INET, socket.AF_INET6)
_TEXT = (b"content-type", b"text/plain; charset=utf-8")
_CLOSE = (b"connection", b"close")


def _address(value: Any) -> tuple[str, int] | None:
    if isinstance(value, tuple) and len(value) >= 2:
        return (str(value[0]), int(value[1]))
    return None


class HttpProtocol(FlowControl, asyncio.BufferedProtocol):
    tls: dict[str, Any] | None = None  # the ASGI "tls" extension, on TLS connections only

    def __init__(self, config: Config, server_state: ServerState,
                 app_state: dict[str, Any], loop: asyncio.AbstractEventLoop | None = None
                 ) -> None:
        self.config = config
        self.app = config.loaded_app
        self.server_state = server_state
        self.app_state = app_state
        self.loop = loop or asyncio.get_running_loop()
        self.limits = Limits(max_head_size=config.limit_request_head_size,
                             max_header_count=config.limit_request_fields,
                             lenient_lf=config.lenient_lf)
        self.transport: asyncio.Transport | None = None
        self.conn = Connection(self.limits)
        self.cycle: HttpCycle | None = None
        self.corked = False
        # Decided once per connection: `--no-access-log` must cost nothing per request.
        self.access_log = config.access_log and logging.getLogger(
            "moreweb.access").isEnabledFor(logging.INFO)
        self._out: list[bytes] = []
        self._out_size = 0
        self._pipelined = False
        self._flush_scheduled = False
        self._sending_file = False  # the transport refuses writes while sendfile runs
        self._init_flow()
        self._processing = False
        self._closing = False
        self._lost = False
        self._deadline = Deadline(self.loop, self._on_timeout)
        self.client: tuple[str, int] | None = None
        self.server: tuple[str, int] | None = None
        self.scheme = "http"

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server_state.connections.add(self)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in _TCP_FAMILIES:
            # Responses go out as they complete; without TCP_NODELAY the second small write
            # of a pipelined batch waits ~40 ms for the client's delayed ACK (Nagle). asyncio
            # only sets it itself when the listening socket was made with IPPROTO_TCP.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client = _address(transport.get_extra_info("peername"))
        sockname = transport.get_extra_info("sockname")
        self.server = _address(sockname) if isinstance(sockname, tuple) else (
            (str(sockname), None) if sockname else None)  # type: ignore[assignment]
        if transport.get_extra_info("sslcontext") is not None:
            self.scheme = "https"
            # prod (issue 6): the ASGI "tls" extension, computed once per connection.
            from ..tls import tls_extension

            self.tls = tls_extension(transport.get_extra_info("ssl_object"),
                                     self.config.ssl_certfile)
        # RFC-free slowloris protection: the first request head must arrive in time.
        self._deadline.set("head", self.config.timeout_request_head)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self.server_state.connections.discard(self)
        self._deadline.cancel()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.disconnect()
        self._release_drain_waiters()

    def eof_received(self) -> bool | None:
        # Let the engine judge what it has (an unfinished head still earns its 400), then
        # treat EOF as the client going away, as uvicorn does: apps waiting in receive() get
        # http.disconnect when the transport closes.
        self.conn.receive_data(b"")
        self._process()
        return None

    def get_buffer(self, sizehint: int) -> memoryview:
        return read_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(read_buffer()[:nbytes]))

    def data_received(self, data: bytes) -> None:
        conn = self.conn
        conn.receive_data(data)
        if self.cycle is not None and conn.their_state is DONE:
            # Pipelined bytes wait for the current response; don't buffer without bound.
            if conn.buffered > PIPELINE_HIGH_WATER:
                self.pause_reading()
            return
        self._process()

    # -- the Wire interface used by HttpCycle -------------------------------------------------

    def write(self, data: bytes) -> None:
        # While corked (inside `_process`) or answering a pipelined batch, responses gather
        # into one write: sent when the batch ends, or on the next loop iteration if it
        # stalls. Past CORK_LIMIT they go now, so that transport flow control (pause_writing
        # -> send() waits) sees the real backlog of a big or streaming response.
        if self.corked or self._pipelined:
            self._out.append(data)
            self._out_size += len(data)
            if self._out_size > CORK_LIMIT:
                self._flush()
            elif not self.corked and not self._flush_scheduled:
                self._flush_scheduled = True
                self.loop.call_soon(self._flush)
        elif not self._lost:
            self.transport.write(data)  # type: ignore[union-attr]

    async def sendfile(self, file: Any, offset: int, count: int) -> bool:
        if self._lost or self.scheme == "https":
            return False
        # Bytes gathered earlier (this response's head, a pipelined batch) must precede the
        # file; while it is sent, flushes wait (the transport would raise), then catch up.
        self._flush()
        self._sending_file = True
        try:
            await self.loop.sendfile(self.transport, file, offset, count,  # type: ignore[arg-type]
                                     fallback=True)
        except (NotImplementedError, RuntimeError):
            return False
        finally:
            self._sending_file = False
            self._flush()
        return True

    def close(self) -> None:
        self._flush()
        if not self._lost and self.transport is not None:
            self.transport.close()
        self._closing = True

    def cycle_complete(self, cycle: HttpCycle) -> None:
        """The response is on the wire: start the next keep-alive cycle, or close."""
        self.server_state.total_requests += 1
        self._after_response()

    def _after_response(self) -> None:
        conn = self.conn
        if conn.our_state is MUST_CLOSE or self._closing:
            self.cycle = None
            self.close()
            return
        if conn.their_state is DONE:
            conn.start_next_cycle()
            self.cycle = None
            if self._reading_paused:
                self.resume_reading()
            if conn.buffered:
                # A pipelined request is waiting. Start it now, even from inside the previous
                # app's send(): waiting a loop iteration per request halves pipelined rates.
                self._pipelined = True
                self._process()
            else:
                if self._pipelined:
                    self._pipelined = False
                    self._flush()
                self._deadline.set("keep-alive", self.config.timeout_keep_alive)
        elif conn.they_are_waiting_for_100_continue:
            # The client holds its body back until we say 100 Continue; we never will.
            self.cycle = None
            self.close()
        else:
            # The client is still sending a body nobody reads: `_process` discards it and
            # starts the next cycle when it ends.
            self.resume_reading()

    # -- event processing ---------------------------------------------------------------------

    def _process(self) -> None:
        if self._processing or self._lost:
            return
        self._processing = True
        self.corked = True
        conn = self.conn
        cycle: HttpCycle | None = self.cycle
        starting: HttpCycle | None = None
        try:
            while True:
                try:
                    event = conn.next_event()
                except RemoteProtocolError as exc:
                    self._reject(exc)
                    break
                kind = type(event)
                if kind is Request:
                    cycle = starting = self._new_cycle(event)  # type: ignore[arg-type]
                    if cycle is None:
                        break
                elif kind is Data:
                    if cycle is not None and not cycle.response_complete:
                        cycle.feed_body(event.data)  # type: ignore[union-attr]
                elif kind is EndOfMessage:
                    if cycle is not None:
                        cycle.end_body()
                    if starting is not None:
                        starting = None
                        self._run(cycle)  # type: ignore[arg-type]
                    elif cycle is not None and cycle.response_complete:
                        self._after_response()  # the discarded body finally ended
                    cycle = self.cycle
                elif event is NEED_DATA:
                    if cycle is None and self._deadline.kind == "keep-alive" and conn.buffered:
                        # A new request head has begun: it now has to arrive in time.
                        self._deadline.set("head", self.config.timeout_request_head)
                    if starting is not None:
                        # Part of the body is here; the app may start reading it.
                        self._run(starting)
                    break
                elif event is PAUSED:
                    break
                elif kind is ConnectionClosed:
                    self.close()
                    break
        finally:
            self.corked = False
            self._processing = False
            self._flush()

    def _flush(self) -> None:
        self._flush_scheduled = False
        self._out_size = 0
        out = self._out
        if out and not self._sending_file:
            data = out[0] if len(out) == 1 else b"".join(out)
            out.clear()
            if not self._lost:
                self.transport.write(data)  # type: ignore[union-attr]

    def _new_cycle(self, request: Request) -> HttpCycle | None:
        self._deadline.clear()
        if self._closing:
            return None
        limit = self.config.limit_concurrency
        if limit is not None and (len(self.server_state.connections) > limit
                                  or len(self.server_state.tasks) >= limit):
            self._respond_and_close(503, b"Service Unavailable")
            return None
        if request.method == b"CONNECT":
            # ASGI has no tunnels: answer here rather than let an app's 2xx open one.
            self._respond_and_close(501, b"CONNECT is not supported")
            return None
        if self.conn.upgrade_field and self._is_websocket_upgrade(request):
            self._upgrade_to_websocket(request)
            return None
        conn = self.conn
        conn.default_fields = self.server_state.default_header_block
        scope = http_scope(
            request, scheme=self.scheme, client=self.client, server=self.server,
            root_path=self.config.root_path, app_state=self.app_state,
            extensions={"http.response.trailers": {}, "http.response.pathsend": {}})
        if self.tls is not None:  # prod (issue 6): TLS connections only, per the ASGI spec
            scope["extensions"]["tls"] = self.tls
        self.cycle = cycle = HttpCycle(self, conn, scope)
        return cycle

    def _run(self, cycle: HttpCycle) -> None:
        # Eager only when more requests are already waiting behind this one (see runner.py).
        task = runner.start(self.loop, cycle.run(self.app), self.conn.buffered > 0)
        if task is not None and not task.done():
            # The cycle removes its own task when it ends (no done-callback per request).
            cycle.task = task
            self.server_state.tasks.add(task)

    def task_done(self, task: asyncio.Task[None]) -> None:
        self.server_state.tasks.discard(task)

    def _reject(self, exc: RemoteProtocolError) -> None:
        """The engine refused the request: answer with its status (if we still can) and close."""
        cycle = self.cycle
        if cycle is not None:
            cycle.disconnect()
        if self.conn.our_state in (IDLE, SEND_RESPONSE):
            self._respond_and_close(exc.status_code, exc.reason.encode("ascii", "replace"))
        else:
            self.close()

    def _respond_and_close(self, status: int, text: bytes) -> None:
        conn = self.conn
        conn.default_fields = self.server_state.default_header_block
        try:
            self.write(conn.send_response(Response(status, [_TEXT, _CLOSE]), text))
        except LocalProtocolError:
            pass
        self.close()

    def _on_timeout(self, kind: str) -> None:
        if self._lost:
            return
        if kind == "head" and self.conn.our_state is IDLE and self.cycle is None:
            # RFC 9110 §15.5.9: 408, then close; the client was too slow to send a head.
            self._respond_and_close(408, b"Request Timeout")
        else:
            self.close()

    # -- WebSocket upgrade ----------------------------------------------------------------------

    def _is_websocket_upgrade(self, request: Request) -> bool:
        if self.config.ws == "none":
            return False
        return is_websocket_upgrade(request.headers)

    def _upgrade_to_websocket(self, request: Request) -> None:
        """Hand the connection, its engine and any bytes behind the request to WebSockets."""
        from .websocket import WebSocketProtocol

        self._deadline.cancel()
        self._flush()
        self.server_state.connections.discard(self)
        protocol = WebSocketProtocol(self.config, self.server_state, self.app_state,
                                     loop=self.loop)
        self._lost = True  # this object no longer owns the transport
        transport = self.transport
        transport.set_protocol(protocol)  # type: ignore[union-attr]
        protocol.handshake(transport, self.conn, request,  # type: ignore[arg-type]
                           client=self.client, server=self.server, scheme=self.scheme,
                           tls=self.tls)

    # -- graceful shutdown ----------------------------------------------------------------------

    def shutdown(self) -> None:
        """Close now if idle; otherwise close as soon as the in-flight response is complete."""
        if self.cycle is None or self.cycle.response_complete:
            self.close()
        else:
            self._closing = True
