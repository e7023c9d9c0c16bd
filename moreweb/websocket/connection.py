"""The sans-IO WebSocket connection (RFC 6455 5-7): frames to messages, messages to frames.

This file owns the connection's state (OPEN, CLOSING, CLOSED) and every rule that spans frames:
fragment sequencing, incremental UTF-8 validation, message size, the close handshake and
failing the connection. Nothing outside it changes the state. It never touches a socket, a
clock or an event loop: `receive_data()` takes bytes, `next_event()` returns events, the
`send_*()` methods return the bytes to write, and `data_to_send()` returns what the connection
queued by itself (the close echo, the close frame of a failure).

Hot path: `next_event()` on small whole messages goes frame -> event with one decode and no
intermediate lists (see bench/ for the WebSocket echo benchmark).
"""

from __future__ import annotations

import codecs
import enum
import os
from collections.abc import Iterator

from .close import (
    INVALID_PAYLOAD,
    NO_STATUS_RECEIVED,
    NORMAL_CLOSURE,
    PROTOCOL_ERROR,
    build_close_payload,
    parse_close_payload,
)
from .deflate import PerMessageDeflate
from .errors import LocalProtocolError, ProtocolError
from .events import BytesMessage, CloseReceived, ConnectionFailed, Event, Ping, Pong, TextMessage
from .frames import (
    MAX_CONTROL_PAYLOAD,
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Frame,
    encode_frame,
)
from .reader import FrameReader

#: Default largest incoming message, after decompression (the same default as uvicorn's).
DEFAULT_MAX_SIZE = 16 * 1024 * 1024

_Utf8Decoder = codecs.getincrementaldecoder("utf-8")


class ConnectionState(enum.Enum):
    #: Messages flow both ways.
    OPEN = "OPEN"
    #: We sent a close frame and wait for the peer's; we may not send data any more.
    CLOSING = "CLOSING"
    #: Both close frames were exchanged, or the connection failed: close the transport.
    CLOSED = "CLOSED"


_OPEN = ConnectionState.OPEN
_CLOSING = ConnectionState.CLOSING
_CLOSED = ConnectionState.CLOSED


class Connection:
    """One WebSocket connection after a successful opening handshake.

    `max_size` bounds an incoming message (bytes, after decompression; None for no bound);
    `deflate` is the codec `negotiate()` returned, if permessage-deflate was agreed;
    `client=True` plays the client role (masks what it sends, expects unmasked frames), which
    is what tests and tools need; a server leaves it False.
    """

    __slots__ = (
        "_bytes_parts",
        "_client",
        "_decoder",
        "_deflate",
        "_max_size",
        "_msg_compressed",
        "_msg_opcode",
        "_msg_size",
        "_msg_wire",
        "_out",
        "_reader",
        "_state",
        "_text_parts",
        "_wire_limit",
    )

    def __init__(
        self,
        *,
        max_size: int | None = DEFAULT_MAX_SIZE,
        deflate: PerMessageDeflate | None = None,
        client: bool = False,
    ) -> None:
        if max_size is None:
            max_size = 1 << 62
        if max_size < 0:
            raise ValueError("max_size must not be negative")
        self._max_size = max_size
        # Compressed bytes on the wire are bounded too, with the slack that deflate's stored
        # blocks add to incompressible data (5 bytes per 64 KiB), so nothing is ever buffered
        # much past max_size; the real bound is checked on the decompressed size.
        self._wire_limit = max_size + (max_size >> 10) + 64 if deflate is not None else max_size
        self._deflate = deflate
        self._client = client
        self._reader = FrameReader(expect_mask=not client, rsv1_ok=deflate is not None)
        self._state = _OPEN
        self._out: list[bytes] = []
        # The fragmented message being reassembled; _msg_opcode is 0 when there is none.
        self._msg_opcode = 0
        self._msg_compressed = False
        self._msg_size = 0
        self._msg_wire = 0
        self._text_parts: list[str] = []
        self._bytes_parts: list[bytes] = []
        self._decoder = _Utf8Decoder()

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def max_size(self) -> int:
        return self._max_size

    # -- receiving ---------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes from the peer; call `next_event()` until it returns None."""
        if self._state is not _CLOSED:
            self._reader.feed(data)

    def events(self) -> Iterator[Event]:
        """Every event the buffered bytes complete, in order."""
        while (event := self.next_event()) is not None:
            yield event

    def next_event(self) -> Event | None:
        """The next event, or None when more bytes are needed (or the connection is closed)."""
        while self._state is not _CLOSED:
            if not self._msg_opcode:
                limit = self._max_size
                compressed_limit = self._wire_limit
            elif self._msg_compressed:
                limit = compressed_limit = self._wire_limit - self._msg_wire
            else:
                limit = compressed_limit = self._max_size - self._msg_size
            try:
                frame = self._reader.next_frame(limit, compressed_limit)
                if frame is None:
                    return None
                if frame.opcode & 0x8:
                    return self._on_control(frame)
                event = self._on_data(frame)
            except ProtocolError as exc:
                return self._fail(exc.code, exc.reason)
            if event is not None:
                return event
        return None

    def _on_data(self, frame: Frame) -> Event | None:
        opcode = frame.opcode
        if opcode:
            if self._msg_opcode:
                raise ProtocolError(
                    PROTOCOL_ERROR, "new message started before the fragmented one ended"
                )
            if frame.fin:
                # A whole message in one frame: the common case, with no reassembly state.
                payload = frame.payload
                if frame.rsv1:
                    payload = self._inflate(payload, True, self._max_size)
                if opcode == OP_TEXT:
                    try:
                        return TextMessage(payload.decode("utf-8"))
                    except UnicodeDecodeError:
                        raise ProtocolError(INVALID_PAYLOAD, "text message is not valid UTF-8")
                return BytesMessage(payload)
            self._msg_opcode = opcode
            self._msg_compressed = frame.rsv1
            self._msg_size = 0
            self._msg_wire = 0
            if opcode == OP_TEXT:
                self._decoder.reset()
        else:
            if not self._msg_opcode:
                raise ProtocolError(PROTOCOL_ERROR, "continuation frame without a message")
            if frame.rsv1:
                # Only a message's first frame says it is compressed (RFC 7692 6.1).
                raise ProtocolError(PROTOCOL_ERROR, "RSV1 set on a continuation frame")

        payload = frame.payload
        fin = frame.fin
        if self._msg_compressed:
            self._msg_wire += len(payload)
            payload = self._inflate(payload, fin, self._max_size - self._msg_size)
        # Uncompressed fragments were already bounded by the reader, before being buffered.
        self._msg_size += len(payload)

        if self._msg_opcode == OP_TEXT:
            try:
                # Validated fragment by fragment, so a bad byte fails the connection as soon as
                # it arrives instead of after the whole message (RFC 6455 8.1).
                text = self._decoder.decode(payload, fin)
            except UnicodeDecodeError:
                raise ProtocolError(INVALID_PAYLOAD, "text message is not valid UTF-8")
            if not fin:
                self._text_parts.append(text)
                return None
            self._text_parts.append(text)
            message: Event = TextMessage("".join(self._text_parts))
            self._text_parts.clear()
        else:
            self._bytes_parts.append(payload)
            if not fin:
                return None
            message = BytesMessage(b"".join(self._bytes_parts))
            self._bytes_parts.clear()
        self._msg_opcode = 0
        return message

    def _inflate(self, payload: bytes, fin: bool, budget: int) -> bytes:
        assert self._deflate is not None  # the reader refuses RSV1 without deflate
        return self._deflate.decompress(payload, fin, budget)

    def _on_control(self, frame: Frame) -> Event:
        opcode = frame.opcode
        if opcode == OP_PING:
            return Ping(frame.payload)
        if opcode == OP_PONG:
            return Pong(frame.payload)
        assert opcode == OP_CLOSE
        code, reason = parse_close_payload(frame.payload)
        if self._state is _OPEN:
            # Echo the close (RFC 6455 5.5.1), with the peer's code as is customary.
            echo = b"" if code == NO_STATUS_RECEIVED else code.to_bytes(2, "big")
            self._out.append(encode_frame(OP_CLOSE, echo, mask_key=self._mask_key()))
        self._closed()
        return CloseReceived(code, reason)

    def _fail(self, code: int, reason: str) -> ConnectionFailed:
        """_Fail the WebSocket Connection_ (RFC 6455 7.1.7): send a close if we have not."""
        if self._state is _OPEN:
            payload = build_close_payload(code, reason)
            self._out.append(encode_frame(OP_CLOSE, payload, mask_key=self._mask_key()))
        self._closed()
        return ConnectionFailed(code, reason)

    def _closed(self) -> None:
        # Nothing after a close frame means anything (RFC 6455 5.5.1): drop it all.
        self._state = _CLOSED
        self._reader.clear()
        self._msg_opcode = 0
        self._text_parts.clear()
        self._bytes_parts.clear()

    # -- sending -----------------------------------------------------------------------------

    def _mask_key(self) -> bytes | None:
        # A client masks every frame with a fresh unpredictable key (RFC 6455 5.3, 10.3).
        return os.urandom(4) if self._client else None

    def data_to_send(self) -> bytes:
        """Bytes the connection queued by itself (close echo, failure close); empties the queue."""
        if not self._out:
            return b""
        data = b"".join(self._out)
        self._out.clear()
        return data

    def send_text(self, text: str) -> bytes:
        """The frame(s) of a text message."""
        return self._send_message(OP_TEXT, text.encode("utf-8"))

    def send_bytes(self, data: bytes | bytearray | memoryview) -> bytes:
        """The frame(s) of a binary message."""
        return self._send_message(OP_BINARY, data)

    def _send_message(self, opcode: int, payload: bytes | bytearray | memoryview) -> bytes:
        if self._state is not _OPEN:
            # No data frames after a close frame, in either direction (RFC 6455 5.5.1).
            raise LocalProtocolError("cannot send a message once the connection is closing")
        deflate = self._deflate
        mask_key = os.urandom(4) if self._client else None
        if deflate is not None and len(payload) >= deflate.min_size:
            return encode_frame(opcode, deflate.compress(payload), rsv1=True, mask_key=mask_key)
        return encode_frame(opcode, payload, mask_key=mask_key)

    def send_ping(self, payload: bytes = b"") -> bytes:
        """A ping frame (keepalive); the peer's Pong event answers it."""
        return self._send_control(OP_PING, payload)

    def send_pong(self, payload: bytes = b"") -> bytes:
        """A pong frame; unsolicited pongs are a valid one-way heartbeat (RFC 6455 5.5.3)."""
        return self._send_control(OP_PONG, payload)

    def reply_to_ping(self, ping: Ping) -> bytes:
        """The pong answering `ping` (same payload), or b"" once the connection is closed."""
        if self._state is _CLOSED:
            return b""
        return encode_frame(OP_PONG, ping.payload, mask_key=self._mask_key())

    def _send_control(self, opcode: int, payload: bytes) -> bytes:
        if self._state is _CLOSED:
            raise LocalProtocolError("cannot send a frame on a closed connection")
        if len(payload) > MAX_CONTROL_PAYLOAD:
            raise LocalProtocolError("control frame payload over 125 bytes")
        return encode_frame(opcode, payload, mask_key=self._mask_key())

    def send_close(self, code: int | None = NORMAL_CLOSURE, reason: str = "") -> bytes:
        """Our close frame; b"" if a close was already sent or received (closing is idempotent).

        `code=None` sends a close without a code. Raises LocalProtocolError for a code that may
        not be sent (1004-1006, 1015, < 1000, 1016-2999, >= 5000) or a reason over 123 bytes.
        """
        if self._state is not _OPEN:
            return b""
        payload = build_close_payload(code, reason)
        self._state = _CLOSING
        return encode_frame(OP_CLOSE, payload, mask_key=self._mask_key())
