"""The server side of one HTTP/1.1 connection, sans-IO: bytes in, events out; events in,
bytes out.

It wires the pieces together: the receive buffer, the head parser, a body reader per request,
the response serializer and a body writer per response, all under the state machine of
`states.py`. It never touches a socket, a clock or an event loop, so the asyncio protocol, the
tests and the benchmarks drive it the same way.

Pipelining (RFC 9112 §9.3): bytes of the next request wait in the buffer, and `next_event()`
answers PAUSED, until the current cycle ends with `start_next_cycle()`.

Hot path: `receive_data`, `next_event`, `send_response` (see `bench/engine.py`).
"""

from __future__ import annotations

from .body_readers import END_OF_MESSAGE, BodyReader
from .body_writers import NO_BODY, BodyWriter
from .errors import LocalProtocolError, RemoteProtocolError
from .events import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    InformationalResponse,
    Request,
    Response,
    _Sentinel,
)
from .limits import Limits
from .request_head import check_incomplete_head, find_head_end, parse_request_head
from .response_head import serialize_informational, serialize_response
from .states import (
    CLIENT,
    CLOSED,
    ERROR,
    IDLE,
    MUST_CLOSE,
    SEND_BODY,
    SERVER,
    SWITCH_CONNECT,
    SWITCH_UPGRADE,
    ConnectionState,
    State,
)

_DEFAULT_LIMITS = Limits()
_CONNECTION_CLOSED = ConnectionClosed()


class Connection:
    """One server-side HTTP/1.1 connection."""

    __slots__ = (
        "_buf",
        "_head_request",
        "_http11",
        "_line_checked",
        "_peer_closed",
        "_pos",
        "_reader",
        "_scanned",
        "_state",
        "_writer",
        "default_fields",
        "limits",
        "they_are_waiting_for_100_continue",
        "upgrade_field",
    )

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or _DEFAULT_LIMITS
        #: Pre-serialized `name: value\r\n` lines added to every response head (Server, Date);
        #: the server refreshes them, the engine only copies them.
        self.default_fields = b""
        self.they_are_waiting_for_100_continue = False
        #: The current request carries an Upgrade field (whether or not it is a valid
        #: proposal): lets the protocol skip looking for WebSocket upgrades on the hot path.
        self.upgrade_field = False
        self._state = ConnectionState()
        self._buf = b""
        self._pos = 0
        # How much of an unfinished head (from _pos) was already examined, so that each byte
        # of a head trickled in slowly is examined once (see check_incomplete_head).
        self._scanned = 0
        self._line_checked = False
        self._peer_closed = False
        self._reader: BodyReader | None = None
        self._writer: BodyWriter | None = None
        self._head_request = False
        self._http11 = True

    # -- state, read-only from outside -------------------------------------------------------

    @property
    def their_state(self) -> State:
        return self._state.states[CLIENT]

    @property
    def our_state(self) -> State:
        return self._state.states[SERVER]

    @property
    def states(self) -> dict[str, State]:
        return {"client": self._state.states[CLIENT], "server": self._state.states[SERVER]}

    @property
    def keep_alive(self) -> bool:
        return self._state.keep_alive

    @property
    def their_http_version(self) -> bytes:
        return b"1.1" if self._http11 else b"1.0"

    @property
    def buffered(self) -> int:
        """How many received bytes are not yet consumed (e.g. a pipelined request)."""
        return len(self._buf) - self._pos

    @property
    def trailing_data(self) -> tuple[bytes, bool]:
        """Unread bytes and whether the peer closed: what a switched protocol starts from."""
        return self._buf[self._pos:], self._peer_closed

    # -- receiving -----------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Add bytes from the peer; b"" means the peer closed its side."""
        if not data:
            self._peer_closed = True
            return
        if self._peer_closed:
            raise RuntimeError("received data after the peer closed the connection")
        if self._pos >= len(self._buf):
            self._buf = data
        else:
            self._buf = self._buf[self._pos:] + data
        self._pos = 0

    def next_event(self) -> Event | _Sentinel:
        """The next event from the peer, NEED_DATA, or PAUSED."""
        state = self._state.states[CLIENT]
        try:
            if state is IDLE:
                return self._next_request()
            if state is SEND_BODY:
                return self._next_body_event()
            if state is ERROR:
                raise RemoteProtocolError("can't receive data when peer state is ERROR")
            if state is CLOSED or (state is MUST_CLOSE and self._peer_closed):
                if state is not CLOSED:
                    self._state.process_event(CLIENT, ConnectionClosed)
                return _CONNECTION_CLOSED
            # DONE, MUST_CLOSE, MIGHT_SWITCH_PROTOCOL, SWITCHED_PROTOCOL: the next bytes belong
            # to the next cycle, or to another protocol.
            return PAUSED
        except RemoteProtocolError:
            self._state.process_error(CLIENT)
            raise

    def _next_request(self) -> Event | _Sentinel:
        buf = self._buf
        pos = self._pos
        # RFC 9112 §2.2: ignore empty lines received before the request line.
        while buf.startswith(b"\r\n", pos):
            pos += 2
        if self.limits.lenient_lf:
            while buf.startswith(b"\n", pos) or buf.startswith(b"\r\n", pos):
                pos += 1 if buf[pos] == 0x0A else 2
        if pos != self._pos:
            self._pos = pos
            self._scanned = 0
            self._line_checked = False
        if pos >= len(buf):
            if self._peer_closed:
                self._state.process_event(CLIENT, ConnectionClosed)
                return _CONNECTION_CLOSED
            return NEED_DATA
        head_end, after = find_head_end(buf, pos, self.limits, self._scanned)
        if head_end == -1:
            self._line_checked = check_incomplete_head(
                buf, pos, self.limits, self._scanned, self._line_checked)
            self._scanned = len(buf) - pos
            if self._peer_closed:
                raise RemoteProtocolError("connection closed in the middle of a request head")
            return NEED_DATA
        if self._scanned:
            self._scanned = 0
            self._line_checked = False
        parsed = parse_request_head(buf, pos, head_end, after, self.limits)
        request = parsed.request
        self._pos = after
        state = self._state
        state.process_event(CLIENT, Request)
        if not parsed.keep_alive:
            state.process_keep_alive_disabled()
        method = request.method
        if parsed.upgrade:
            state.process_client_switch_proposal(SWITCH_UPGRADE)
        elif method == b"CONNECT":
            state.process_client_switch_proposal(SWITCH_CONNECT)
        self._reader = parsed.body
        self.upgrade_field = parsed.upgrade_field
        self._head_request = method == b"HEAD"
        self._http11 = request.http_version == b"1.1"
        self.they_are_waiting_for_100_continue = parsed.expect_continue and (
            parsed.body is not None)
        return request

    def _next_body_event(self) -> Event | _Sentinel:
        reader = self._reader
        if reader is None:  # no body: the request ends with its head
            self._state.process_event(CLIENT, EndOfMessage)
            return END_OF_MESSAGE
        event, self._pos = reader.read(self._buf, self._pos, self.limits)
        if event is None:
            if self._peer_closed:
                raise reader.peer_closed()
            return NEED_DATA
        # The client sent body bytes, so it is no longer waiting for our 100 Continue.
        self.they_are_waiting_for_100_continue = False
        if type(event) is Data:
            return event
        self._reader = None
        self._state.process_event(CLIENT, EndOfMessage)
        return event

    # -- sending -------------------------------------------------------------------------------

    def send(self, event: Event) -> bytes:
        """Serialize one outgoing event; raise LocalProtocolError if it is not allowed."""
        try:
            kind = type(event)
            if kind is Data:
                return self._writer_for_body().write(event.data)  # type: ignore[union-attr]
            if kind is EndOfMessage:
                out = self._writer_for_body().finish(event.headers)  # type: ignore[union-attr]
                self._state.process_event(SERVER, EndOfMessage)
                self._writer = None
                return out
            if kind is Response:
                return self._send_head(event, None)  # type: ignore[arg-type]
            if kind is InformationalResponse:
                return self._send_informational(event)  # type: ignore[arg-type]
            if kind is ConnectionClosed:
                self._state.process_event(SERVER, ConnectionClosed)
                return b""
            raise LocalProtocolError(f"can't send {kind.__name__}", 500)
        except LocalProtocolError:
            self._state.process_error(SERVER)
            raise

    def send_response(self, response: Response, body: bytes = b"") -> bytes:
        """A whole response (head, body, end) in one call: the common case, made cheap.

        Knowing the whole body lets a missing Content-Length be added instead of chunking.
        """
        try:
            head = self._send_head(response, len(body))
            writer = self._writer_for_body()
            out = head + writer.write(body) if body else head
            out += writer.finish([])
            self._state.process_event(SERVER, EndOfMessage)
            self._writer = None
            return out
        except LocalProtocolError:
            self._state.process_error(SERVER)
            raise

    def frame_body(self, count: int) -> tuple[bytes, bytes] | None:
        """Account for `count` body bytes that the caller writes itself (sendfile).

        Returns the framing to put before and after those bytes, or None when this response
        carries no body (HEAD, 204, 304) and the bytes must not be sent at all.
        """
        try:
            if count < 0:
                raise LocalProtocolError("negative body byte count", 500)
            return self._writer_for_body().frame(count)
        except LocalProtocolError:
            self._state.process_error(SERVER)
            raise

    def _writer_for_body(self) -> BodyWriter:
        if self._state.states[SERVER] is not SEND_BODY or self._writer is None:
            raise LocalProtocolError(
                f"can't send body data in state {self._state.states[SERVER]!r}", 500)
        return self._writer

    def _send_head(self, response: Response, known_length: int | None) -> bytes:
        state = self._state
        client_state = state.states[CLIENT]
        switch = None
        if (SWITCH_CONNECT in state.pending_switch_proposals
                and 200 <= response.status_code < 300):
            switch = SWITCH_CONNECT
        state.process_event(SERVER, Response, switch)
        if switch is not None:
            # RFC 9110 §9.3.6: a 2xx to CONNECT has no content; the tunnel starts now.
            self._writer = NO_BODY
            head, _, _ = serialize_response(
                response.status_code, response.headers, response.reason, head_request=True,
                http11=True, keep_alive=True, default_fields=self.default_fields)
            return head
        # Answering a request we could not parse, or none at all (408): close afterwards.
        keep_alive = state.keep_alive and client_state is not IDLE and client_state is not ERROR
        head, self._writer, keep_alive = serialize_response(
            response.status_code, response.headers, response.reason,
            head_request=self._head_request, http11=self._http11, keep_alive=keep_alive,
            default_fields=self.default_fields, known_length=known_length)
        if not keep_alive and state.keep_alive:
            state.process_keep_alive_disabled()
        return head

    def _send_informational(self, response: InformationalResponse) -> bytes:
        if not self._http11:
            # RFC 9110 §15.2: HTTP/1.0 has no 1xx; an HTTP/1.0 client would take it as final.
            raise LocalProtocolError("no 1xx response may be sent to an HTTP/1.0 client", 500)
        state = self._state
        switch = None
        if response.status_code == 101:
            if SWITCH_UPGRADE not in state.pending_switch_proposals:
                raise LocalProtocolError("101 without an Upgrade request", 500)
            switch = SWITCH_UPGRADE
        elif response.status_code == 100:
            self.they_are_waiting_for_100_continue = False
        state.process_event(SERVER, InformationalResponse, switch)
        return serialize_informational(response.status_code, response.headers, response.reason)

    # -- cycles --------------------------------------------------------------------------------

    def start_next_cycle(self) -> None:
        """Both sides are DONE on a keep-alive connection: get ready for the next request."""
        self._state.start_next_cycle()
        self._writer = None
        self._reader = None
        self.they_are_waiting_for_100_continue = False
        self._head_request = False


