"""Every bound the engine enforces, in one place, so that no input can grow memory unchecked.

Each field has a CLI flag in `moreweb.cli` and a test in `tests/http11/test_http11_limits.py`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    #: Request line + header section, in bytes. Over it: 431, or 414 when the request line
    #: alone does not fit.
    max_head_size: int = 64 * 1024
    #: Number of header fields (and, separately, of trailer fields). Over it: 431.
    max_header_count: int = 100
    #: A chunk-size line (size plus extensions). Over it: 400.
    max_chunk_line: int = 4096
    #: Accept a bare LF as line terminator in the request line and header section (RFC 9112
    #: §2.2 allows it; it is off by default because LF/CRLF disagreements between a proxy and
    #: a server are a request-smuggling vector). Never applies to chunked framing.
    lenient_lf: bool = False
