"""Split an And-HTTP corpus file into the requests it holds, the way a conforming server would.

The corpus files are pipelined requests separated by LF line endings. A request is: optional
empty lines (skipped, RFC 9112 2.2), then either a one-line HTTP/0.9-style request (a line with
fewer than three words) or a head up to the first empty line plus a Content-Length body. The
split only has to be right up to the first invalid request of a file, since a server closes the
connection there. It must never judge validity (that is `corpus_rules`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CONTENT_LENGTH = re.compile(rb"(?im)^content-length:[ \t]*(\d+)[ \t]*$")


@dataclass(frozen=True)
class CorpusRequest:
    index: int  # 1-based position in the file
    raw: bytes  # the request as it is in the file (LF line endings)
    complete: bool  # False when the file ends before the request does
    head_complete: bool  # the head (up to the empty line) is all there

    @property
    def first_line(self) -> str:
        return self.raw.split(b"\n", 1)[0].decode("latin-1")

    @property
    def method(self) -> str:
        return self.first_line.split(" ", 1)[0]


def split_requests(data: bytes) -> list[CorpusRequest]:
    requests: list[CorpusRequest] = []
    pos = 0
    while True:
        while data.startswith(b"\n", pos):
            pos += 1
        if pos >= len(data):
            return requests
        newline = data.find(b"\n", pos)
        line = data[pos:newline if newline >= 0 else len(data)]
        if newline >= 0 and len(line.split()) < 3:
            requests.append(
                CorpusRequest(len(requests) + 1, data[pos:newline + 1], True, True))
            pos = newline + 1
            continue
        end = data.find(b"\n\n", pos)
        if end < 0:
            requests.append(CorpusRequest(len(requests) + 1, data[pos:], False, False))
            return requests
        match = _CONTENT_LENGTH.search(data, pos, end + 1)
        stop = end + 2 + (int(match.group(1)) if match else 0)
        requests.append(CorpusRequest(len(requests) + 1, data[pos:stop], stop <= len(data),
                                      True))
        pos = stop


def to_crlf(data: bytes) -> bytes:
    """LF -> CRLF, as the corpus's original harness sent the files (`nc -C`)."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
