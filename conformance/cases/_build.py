"""Shorthand for writing cases as they appear on the wire.

Cases are data; this module only keeps them short enough to read side by side with the RFC.
It must never hide a byte: helpers join the lines given with CRLF and add nothing else.
"""

from __future__ import annotations

from conformance.model import Case, Echo, Outcome

HOST = ("host", "a.example")


def msg(request_line: str, *fields: str, body: bytes = b"") -> bytes:
    """A request head from its lines (CRLF-terminated, with the empty line), then `body`."""
    head = "".join(line + "\r\n" for line in (request_line, *fields)) + "\r\n"
    return head.encode("latin-1") + body


def get(target: str = "/", *fields: str, version: str = "HTTP/1.1") -> bytes:
    """A GET with Host: a.example first, then `fields`."""
    return msg(f"GET {target} {version}", "Host: a.example", *fields)


def echo(target: str | None = "/", *headers: tuple[str, str], method: str = "GET",
         body: bytes = b"", version: str | None = "1.1",
         trailers: tuple[tuple[str, str], ...] | None = None) -> Echo:
    """The echo report for a request with Host: a.example first, then `headers`."""
    return Echo(method, target, version, (HOST, *headers), body, trailers)


class Group:
    """Collects the cases of one category."""

    def __init__(self, category: str) -> None:
        self.category = category
        self.cases: list[Case] = []

    def add(self, name: str, rfc: str, send: bytes | tuple[bytes, ...],
            outcomes: tuple[Outcome, ...], note: str = "", **options: object) -> None:
        parts = send if isinstance(send, tuple) else (send,)
        self.cases.append(Case(name, self.category, rfc, parts, outcomes, note,
                               **options))  # type: ignore[arg-type]
