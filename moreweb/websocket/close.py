"""Close codes and close frame payloads (RFC 6455 5.5.1, 7.4).

Knows which codes may appear on the wire and how a close payload is laid out. It never decides
when to close: that is the connection's job.
"""

from __future__ import annotations

import struct

from .errors import LocalProtocolError, ProtocolError

NORMAL_CLOSURE = 1000
GOING_AWAY = 1001
PROTOCOL_ERROR = 1002
UNSUPPORTED_DATA = 1003
#: Reported when the peer's close frame had no payload; never sent on the wire (RFC 6455 7.4.1).
NO_STATUS_RECEIVED = 1005
#: Reported when the connection dropped without a close frame; never sent on the wire.
ABNORMAL_CLOSURE = 1006
INVALID_PAYLOAD = 1007
POLICY_VIOLATION = 1008
MESSAGE_TOO_BIG = 1009
MANDATORY_EXTENSION = 1010
INTERNAL_ERROR = 1011

#: A close reason must fit in a control frame (125 bytes) after the 2-byte code.
MAX_REASON_BYTES = 123

_CODE = struct.Struct("!H")


def is_valid_code(code: int) -> bool:
    """Whether `code` may travel in a close frame, in either direction.

    1000-1003 and 1007-1014 are defined or registered with IANA; 1004 is reserved, 1005, 1006
    and 1015 are reserved for reporting only (RFC 6455 7.4.1); the rest of 1000-2999 is
    reserved for future RFCs; 3000-3999 is registered for libraries and 4000-4999 is private.
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def parse_close_payload(payload: bytes) -> tuple[int, str]:
    """Split a received close payload into (code, reason), validating both.

    An empty payload means "no status code" and is reported as 1005 (RFC 6455 7.1.5).
    """
    length = len(payload)
    if length == 0:
        return NO_STATUS_RECEIVED, ""
    if length == 1:
        # The code is two bytes; a single byte cannot be one (RFC 6455 5.5.1).
        raise ProtocolError(PROTOCOL_ERROR, "close frame payload of one byte")
    (code,) = _CODE.unpack_from(payload)
    if not is_valid_code(code):
        raise ProtocolError(PROTOCOL_ERROR, "invalid close code")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        # The reason "is not guaranteed to be human readable" but must be UTF-8 (RFC 6455 5.5.1).
        raise ProtocolError(INVALID_PAYLOAD, "close reason is not valid UTF-8")
    return code, reason


def build_close_payload(code: int | None, reason: str = "") -> bytes:
    """The payload of a close frame we send; `code=None` sends an empty payload."""
    if code is None:
        if reason:
            raise LocalProtocolError("a close reason needs a close code")
        return b""
    if not is_valid_code(code):
        raise LocalProtocolError(f"close code {code} may not be sent")
    encoded = reason.encode("utf-8")
    if len(encoded) > MAX_REASON_BYTES:
        raise LocalProtocolError(f"close reason longer than {MAX_REASON_BYTES} bytes in UTF-8")
    return _CODE.pack(code) + encoded
