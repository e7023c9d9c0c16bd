"""permessage-deflate (RFC 7692): negotiation and the per-message codec over zlib.

`negotiate` reads a client's Sec-WebSocket-Extensions offers and accepts the first one it can
honour; `PerMessageDeflate` then compresses what we send and decompresses what we receive. This
module never frames anything and never decides when a message ends: the connection tells it.

Decompression is the attack surface: a few kilobytes can inflate to gigabytes. Output is capped
by the caller's remaining budget (`max_length`), so a zip bomb fails with 1009 after producing at
most that budget plus one byte, never after inflating the whole thing.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from .close import INVALID_PAYLOAD, MESSAGE_TOO_BIG
from .errors import ProtocolError

EXTENSION_NAME = "permessage-deflate"

# Every message's compressed data ends with an empty stored block, 00 00 ff ff; the sender
# strips it and the receiver puts it back (RFC 7692 7.2.1, 7.2.2).
_TAIL = b"\x00\x00\xff\xff"

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_WINDOW_BITS = re.compile(r"(?:8|9|1[0-5])")


@dataclass(frozen=True)
class DeflateOptions:
    """What the server is willing to agree to; the defaults accept any sensible offer.

    - `server_no_context_takeover`: reset our compressor after every message even if the client
      did not ask (saves our memory, costs ratio).
    - `client_no_context_takeover`: ask clients to reset theirs (lets us reset our decompressor).
    - `server_max_window_bits` (9-15): the largest window we compress with. zlib cannot make raw
      deflate streams with an 8-bit window, so offers demanding 8 are declined.
    - `client_max_window_bits` (8-15): the window we ask clients to stay within, when they allow
      us to choose.
    - `compress_level`, `mem_level`: zlib's knobs for our compressor.
    - `min_size`: messages shorter than this are sent uncompressed (RSV1 clear).
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15
    compress_level: int = zlib.Z_DEFAULT_COMPRESSION
    mem_level: int = 8
    min_size: int = 0

    def __post_init__(self) -> None:
        if not 9 <= self.server_max_window_bits <= 15:
            raise ValueError("server_max_window_bits must be between 9 and 15")
        if not 8 <= self.client_max_window_bits <= 15:
            raise ValueError("client_max_window_bits must be between 8 and 15")


class PerMessageDeflate:
    """The negotiated codec of one connection; holds zlib state, so never share it."""

    __slots__ = (
        "_compress_bits",
        "_compress_level",
        "_compress_reset",
        "_compressor",
        "_decompress_bits",
        "_decompress_reset",
        "_decompressor",
        "_flush_mode",
        "_mem_level",
        "min_size",
    )

    def __init__(
        self,
        *,
        compress_bits: int = 15,
        decompress_bits: int = 15,
        compress_reset: bool = False,
        decompress_reset: bool = False,
        compress_level: int = zlib.Z_DEFAULT_COMPRESSION,
        mem_level: int = 8,
        min_size: int = 0,
    ) -> None:
        """`*_bits` are LZ77 window sizes; `*_reset` means no context takeover in that direction.

        A server gets this from `negotiate`; a client (tests, tools) builds it with the
        directions swapped.
        """
        self._compress_bits = compress_bits
        self._decompress_bits = decompress_bits
        self._compress_reset = compress_reset
        self._decompress_reset = decompress_reset
        self._compress_level = compress_level
        self._mem_level = mem_level
        self.min_size = min_size
        # Without context takeover a full flush both ends the message and forgets the window,
        # which keeps one compressor alive instead of building a new one per message.
        self._flush_mode = zlib.Z_FULL_FLUSH if compress_reset else zlib.Z_SYNC_FLUSH
        self._compressor = zlib.compressobj(
            compress_level, zlib.DEFLATED, -compress_bits, mem_level
        )
        self._decompressor = zlib.decompressobj(-decompress_bits)

    def compress(self, data: bytes | bytearray | memoryview) -> bytes:
        """The compressed payload of one whole message (RFC 7692 7.2.1)."""
        compressor = self._compressor
        out = compressor.compress(data) + compressor.flush(self._flush_mode)
        if out.endswith(_TAIL):
            return out[:-4]
        return out  # pragma: no cover - a sync or full flush always ends with the tail

    def decompress(self, data: bytes, fin: bool, max_length: int) -> bytes:
        """Inflate one frame's payload of a compressed message (RFC 7692 7.2.2).

        `fin` marks the message's last frame. Fails with 1009 when the output would exceed
        `max_length` bytes, and with 1007 when the data is not a valid deflate stream.
        """
        decompressor = self._decompressor
        try:
            # Asking for one byte over the budget tells "exactly at the limit" from "over it".
            out = decompressor.decompress(data, max_length + 1)
            if len(out) > max_length:
                raise ProtocolError(MESSAGE_TOO_BIG, "message too big after decompression")
            if fin:
                tail = decompressor.decompress(_TAIL, max_length - len(out) + 1)
                if tail:
                    out += tail
                    if len(out) > max_length:
                        raise ProtocolError(MESSAGE_TOO_BIG, "message too big after decompression")
        except zlib.error:
            raise ProtocolError(INVALID_PAYLOAD, "invalid compressed data")
        if fin and (self._decompress_reset or decompressor.eof):
            if decompressor.unused_data:
                # Data after a final deflate block belongs to no stream we can inflate.
                raise ProtocolError(INVALID_PAYLOAD, "data after the end of a deflate stream")
            self._decompressor = zlib.decompressobj(-self._decompress_bits)
        return out


def _parse_offers(values: Iterable[bytes]) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Sec-WebSocket-Extensions values -> [(name, [(param, value or None)])] (RFC 6455 9.1).

    A malformed offer is dropped rather than failing the whole header: the client then simply
    gets no extension, which it must be ready for anyway.
    """
    offers: list[tuple[str, list[tuple[str, str | None]]]] = []
    for value in values:
        for offer in value.decode("latin-1").split(","):
            name, *raw_params = (part.strip() for part in offer.split(";"))
            if not _TOKEN.fullmatch(name):
                continue
            params: list[tuple[str, str | None]] = []
            for raw in raw_params:
                key, sep, param_value = (piece.strip() for piece in raw.partition("="))
                if not _TOKEN.fullmatch(key):
                    break
                if not sep:
                    params.append((key, None))
                    continue
                if len(param_value) >= 2 and param_value[0] == param_value[-1] == '"':
                    # A quoted value must still be a token once unquoted (RFC 6455 9.1).
                    param_value = re.sub(r"\\(.)", r"\1", param_value[1:-1])
                if not _TOKEN.fullmatch(param_value):
                    break
                params.append((key, param_value))
            else:
                offers.append((name.lower(), params))
    return offers


def _accept(
    params: list[tuple[str, str | None]], options: DeflateOptions
) -> tuple[bytes, PerMessageDeflate] | None:
    """The response to one permessage-deflate offer, or None to decline it (RFC 7692 7.1)."""
    seen: set[str] = set()
    server_reset = options.server_no_context_takeover
    client_reset = options.client_no_context_takeover
    server_bits: int | None = None
    client_bits_offered = False
    client_bits: int | None = None
    for key, value in params:
        if key in seen:
            return None  # Each parameter at most once (RFC 7692 7).
        seen.add(key)
        if key == "server_no_context_takeover" or key == "client_no_context_takeover":
            if value is not None:
                return None
            if key == "server_no_context_takeover":
                server_reset = True
            else:
                client_reset = True
        elif key == "server_max_window_bits":
            if value is None or not _WINDOW_BITS.fullmatch(value):
                return None
            server_bits = int(value)
        elif key == "client_max_window_bits":
            client_bits_offered = True
            if value is not None:
                if not _WINDOW_BITS.fullmatch(value):
                    return None
                client_bits = int(value)
        else:
            return None  # Unknown parameter: decline this offer (RFC 7692 7).

    response = [EXTENSION_NAME]
    if server_reset:
        # A server may always promise not to take over its context (RFC 7692 7.1.1.1).
        response.append("server_no_context_takeover")
    if client_reset:
        # A server may always ask the client not to (RFC 7692 7.1.1.2).
        response.append("client_no_context_takeover")

    compress_bits = options.server_max_window_bits
    if server_bits is not None:
        if server_bits < 9:
            return None  # zlib cannot honour an 8-bit window for raw deflate.
        compress_bits = min(compress_bits, server_bits)
        # Accepting the parameter means echoing it with a value no larger (RFC 7692 7.1.2.1).
        response.append(f"server_max_window_bits={compress_bits}")

    decompress_bits = 15
    if client_bits_offered:
        # Only allowed in the response when offered (RFC 7692 7.1.2.2).
        limit = min(options.client_max_window_bits, client_bits or 15)
        if limit < 15:
            response.append(f"client_max_window_bits={limit}")
        # Some zlib-based clients silently turn 8 into 9; a larger window always inflates fine.
        decompress_bits = max(limit, 9)

    codec = PerMessageDeflate(
        compress_bits=compress_bits,
        decompress_bits=decompress_bits,
        compress_reset=server_reset,
        decompress_reset=client_reset,
        compress_level=options.compress_level,
        mem_level=options.mem_level,
        min_size=options.min_size,
    )
    return "; ".join(response).encode("ascii"), codec


def negotiate(
    values: Iterable[bytes], options: DeflateOptions | None = None
) -> tuple[bytes, PerMessageDeflate] | None:
    """Accept the first acceptable permessage-deflate offer among Sec-WebSocket-Extensions values.

    Returns the value for the response's Sec-WebSocket-Extensions header and the codec to give
    the connection, or None when no offer is acceptable (the connection then runs uncompressed).
    Other extensions are never accepted: we implement none.
    """
    if options is None:
        options = DeflateOptions()
    for name, params in _parse_offers(values):
        if name == EXTENSION_NAME:
            accepted = _accept(params, options)
            if accepted is not None:
                return accepted
    return None
