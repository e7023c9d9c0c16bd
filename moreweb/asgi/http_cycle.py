"""One ASGI HTTP request/response cycle: the app's `receive` and `send`, and its errors.

This is the only place that knows ASGI's HTTP message rules (spec 2.4): which message may come
when, what a 500 looks like, when `http.disconnect` is due, when `100 Continue` goes out. The
protocol below it only moves bytes and wire events; it hands the cycle body data and reports
disconnects, and the cycle hands back response bytes through the `Wire` interface.

It must never touch a socket directly and never block: waiting happens only on futures that
the protocol resolves (body arrival, write drain).

Hot path: `receive` for a complete body, `send` for `http.response.start` followed by one
`http.response.body` (combined into one write with an exact Content-Length).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ..http11 import (
    Connection,
    Data,
    EndOfMessage,
    InformationalResponse,
    LocalProtocolError,
    Response,
)
from ..http11.states import SEND_RESPONSE
from .runner import relay

Message = dict[str, Any]
Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
                   Awaitable[None]]

logger = logging.getLogger("moreweb.error")
access_logger = logging.getLogger("moreweb.access")

_ERROR_500 = Response(500, [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"connection", b"close")])
_ERROR_500_BODY = b"Internal Server Error"
_CONTINUE = InformationalResponse(100, [])
_SENDFILE_CHUNK = 256 * 1024
#: Unread request body beyond this pauses reading from the socket until the app catches up.
BODY_HIGH_WATER = 256 * 1024


class ClientDisconnected(OSError):
    """Raised by `send` once the client has gone (ASGI spec 2.4: send raises OSError)."""


class Wire(Protocol):
    """What a cycle needs from the protocol that owns the connection."""

    corked: bool
    write_paused: bool
    access_log: bool

    def write(self, data: bytes) -> None: ...
    async def drain(self) -> None: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def cycle_complete(self, cycle: HttpCycle) -> None: ...
    def task_done(self, task: asyncio.Task[None]) -> None: ...
    def close(self) -> None: ...
    async def sendfile(self, file: Any, offset: int, count: int) -> bool: ...


class HttpCycle:
    __slots__ = (
        "_body",
        "_body_done",
        "_body_size",
        "_more_body",
        "_start",
        "_started_at",
        "_trailers",
        "_waiter",
        "conn",
        "disconnected",
        "response_complete",
        "response_started",
        "scope",
        "status",
        "task",
        "trailers_expected",
        "wire",
    )

    def __init__(self, wire: Wire, conn: Connection, scope: Scope) -> None:
        self.wire = wire
        self.conn = conn
        self.scope = scope
        self._body: list[bytes] = []
        self._body_size = 0
        self._more_body = True  # until the protocol reports the end of the request body
        self._waiter: asyncio.Future[None] | None = None
        self._start: Message | None = None  # a deferred http.response.start
        self._body_done = False  # the last body message came; only trailers may follow
        self._started_at = 0.0
        self.status = 0
        self.task: asyncio.Task[None] | None = None
        self.disconnected = False
        self.response_started = False
        self.response_complete = False
        self.trailers_expected = False

    # -- driven by the protocol ----------------------------------------------------------------

    def feed_body(self, data: bytes) -> None:
        self._body.append(data)
        self._body_size += len(data)
        if self._body_size > BODY_HIGH_WATER:
            self.wire.pause_reading()
        self._wake()

    def end_body(self) -> None:
        self._more_body = False
        self._wake()

    def disconnect(self) -> None:
        self.disconnected = True
        self._more_body = False
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def run(self, app: ASGIApp) -> None:
        """Run the app for this request and turn whatever it does into a valid response."""
        if self.wire.access_log:
            self._started_at = time.perf_counter()
        try:
            await _Suspensions(app(self.scope, self.receive, self.send), self)
        except BaseException as exc:
            if isinstance(exc, ClientDisconnected) and self.disconnected:
                return
            self._app_failed(exc)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            return
        finally:
            if self.task is not None:
                self.wire.task_done(self.task)
        if not self.response_complete and not self.disconnected:
            if self._start is not None or self.response_started:
                logger.error("ASGI callable returned without completing response.")
                self.flush_head()
                self.wire.close()
            else:
                logger.error("ASGI callable returned without starting response.")
                self._send_500()

    def _app_failed(self, exc: BaseException) -> None:
        if isinstance(exc, asyncio.CancelledError):
            # Graceful shutdown gave up on this request; don't pretend it was a bug.
            self.wire.close()
            return
        logger.error("Exception in ASGI application", exc_info=exc)
        if self.disconnected or (self.response_started and self._start is None):
            self.wire.close()
        else:
            # Nothing is on the wire yet (a deferred start counts as nothing): a 500 tells
            # the client more than a silent close.
            self._send_500()

    def _send_500(self) -> None:
        self._start = None
        if self.conn.our_state is SEND_RESPONSE:
            try:
                self.wire.write(self.conn.send_response(_ERROR_500, _ERROR_500_BODY))
            except LocalProtocolError:
                pass
            self.status = 500
            self._finish()
        self.wire.close()

    # -- the app's receive ---------------------------------------------------------------------

    async def receive(self) -> Message:
        if self.response_complete or self.disconnected:
            return {"type": "http.disconnect"}
        if not self._body:
            if not self._more_body:
                self._more_body = True  # a second receive() waits for the disconnect
                # A new dict every time: apps and middleware may rewrite messages in place.
                return {"type": "http.request", "body": b"", "more_body": False}
            conn = self.conn
            if conn.they_are_waiting_for_100_continue and conn.our_state is SEND_RESPONSE:
                # RFC 9110 §10.1.1: the app wants the body, so invite the client to send it.
                # Not once the final head is out: a 1xx can't follow it (the client may send
                # the body anyway, and then it is read as usual).
                self.wire.write(conn.send(_CONTINUE))
            self.wire.resume_reading()
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            await waiter
            if (self.response_complete or self.disconnected) and not self._body:
                return {"type": "http.disconnect"}
        body = self._body
        data = body[0] if len(body) == 1 else b"".join(body)
        body.clear()
        if self._body_size > BODY_HIGH_WATER:
            self.wire.resume_reading()
        self._body_size = 0
        more = self._more_body
        if not more:
            self._more_body = True
        return {"type": "http.request", "body": data, "more_body": more}

    # -- the app's send ------------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        if self.disconnected:
            raise ClientDisconnected("client disconnected")
        kind = message["type"]
        if not self.response_started:
            if kind != "http.response.start":
                raise RuntimeError(f"Expected ASGI message 'http.response.start', but got "
                                   f"{kind!r}.")
            self._response_start(message)
            return
        if self.response_complete:
            raise RuntimeError(f"Unexpected ASGI message {kind!r} sent, after response already "
                               "completed.")
        if kind == "http.response.body":
            if self._body_done:
                raise RuntimeError("Unexpected ASGI message 'http.response.body' sent, after the "
                                   "last body message.")
            self._response_body(message.get("body", b""), message.get("more_body", False))
        elif kind == "http.response.trailers" and self.trailers_expected:
            if not self._body_done:
                raise RuntimeError("Unexpected ASGI message 'http.response.trailers' sent, "
                                   "before the last body message.")
            self._response_trailers(message)
        elif kind == "http.response.pathsend" and not self._body_done:
            await self._response_pathsend(message)
            return
        else:
            raise RuntimeError(f"Unexpected ASGI message {kind!r} sent, after response already "
                               "started.")
        if self.wire.write_paused:
            await self.wire.drain()

    def _response_start(self, message: Message) -> None:
        status = message.get("status")
        if type(status) is not int:
            raise TypeError(f"ASGI 'http.response.start' status must be an int, got {status!r}")
        self.status = status
        self.response_started = True
        if message.get("trailers", False):
            self.trailers_expected = True
            self._trailers: list[tuple[bytes, bytes]] = []  # only trailer responses pay for it
        # Deferred so the head and the first body part leave in one write, with an exact
        # Content-Length when that part is the whole body. If the app suspends first, the
        # head goes out then (see _Suspensions).
        self._start = message

    def flush_head(self) -> None:
        """Write a deferred response head now (the app is about to wait on something)."""
        start = self._start
        if start is not None:
            self._start = None
            self._write_head(start)

    def _write_head(self, message: Message) -> None:
        self.wire.write(self.conn.send(_response(message)))

    def _response_body(self, body: bytes, more_body: bool) -> None:
        if type(body) is not bytes:
            if not isinstance(body, (bytes, bytearray, memoryview)):
                raise TypeError("ASGI 'http.response.body' body must be bytes")
            body = bytes(body)
        conn = self.conn
        start = self._start
        if start is not None:
            self._start = None
            response = _response(start)
            if not more_body and not self.trailers_expected:
                self.wire.write(conn.send_response(response, body))
                self._finish()
                return
            out = conn.send(response)
            if body:
                out += conn.send(Data(body))
            self.wire.write(out)
        elif body:
            self.wire.write(conn.send(Data(body)))
        if not more_body:
            if self.trailers_expected:
                self._body_done = True
            else:
                self.wire.write(conn.send(EndOfMessage()))
                self._finish()

    def _response_trailers(self, message: Message) -> None:
        # Every trailers message adds fields; they go out together with the last one.
        self._trailers.extend(message.get("headers", ()))
        if not message.get("more_trailers", False):
            self.wire.write(self.conn.send(EndOfMessage(self._trailers)))
            self._finish()

    async def _response_pathsend(self, message: Message) -> None:
        """ASGI `http.response.pathsend`: serve a file, with sendfile(2) when possible."""
        path = message["path"]
        start = self._start
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            if start is not None:
                self._start = None
                response = _response(start)
                headers = list(response.headers)
                if not any(name.lower() == b"content-length" for name, _ in headers):
                    headers.append((b"content-length", str(size).encode("ascii")))
                self.wire.write(self.conn.send(response._replace(headers=headers)))
            frame = self.conn.frame_body(size) if size else None
            if frame is not None:
                prefix, suffix = frame
                if prefix:
                    self.wire.write(prefix)
                await self.wire.drain()
                if not await self.wire.sendfile(file, 0, size):
                    # No sendfile on this transport (TLS, or unsupported): copy by hand.
                    while chunk := file.read(_SENDFILE_CHUNK):
                        self.wire.write(chunk)
                        if self.wire.write_paused:
                            await self.wire.drain()
                if suffix:
                    self.wire.write(suffix)
            # frame None: this response has no content (HEAD, 204, 304); don't read the file.
        if self.trailers_expected:
            self._body_done = True
        else:
            self.wire.write(self.conn.send(EndOfMessage()))
            self._finish()

    def _finish(self) -> None:
        self.response_complete = True
        if self._started_at:
            self._log_access()
        self._wake()
        self.wire.cycle_complete(self)

    def _log_access(self) -> None:
        from ..logs import escape_control

        scope = self.scope
        client = scope.get("client")
        client_text = f"{client[0]}:{client[1]}" if client else "-"
        target = scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            target += "?" + scope["query_string"].decode("latin-1")
        access_logger.info('%s - "%s %s HTTP/%s" %d %.1fms', client_text,
                           escape_control(scope["method"]), escape_control(target),
                           scope["http_version"], self.status,
                           (time.perf_counter() - self._started_at) * 1000)


def _response(start: Message) -> Response:
    """The engine's Response for an `http.response.start` message (headers as a list)."""
    headers = start.get("headers", [])
    if type(headers) is not list:
        headers = [(name, value) for name, value in headers]
    return Response(start["status"], headers)


class _Suspensions:
    """Await an app coroutine, flushing a deferred response head whenever the app suspends.

    The head of a response waits for its first body part so both leave in one write; but an
    app that starts a response and then waits (a stream, a long poll) must not keep its client
    without headers. This wrapper sees each suspension as it happens, at the cost of one
    generator frame, instead of scheduling a callback per request. It forwards everything else
    (results, exceptions, cancellation) unchanged.
    """

    __slots__ = ("coro", "cycle")

    def __init__(self, coro: Any, cycle: HttpCycle) -> None:
        self.coro = coro
        self.cycle = cycle

    def __await__(self) -> Any:
        coro = self.coro
        try:
            yielded = coro.send(None)
        except StopIteration as stop:
            return stop.value
        return (yield from relay(coro, yielded, self.cycle.flush_head))
