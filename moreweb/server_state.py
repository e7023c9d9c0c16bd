"""State shared by one server process and all of its connections.

The server owns it; protocols only read `default_header_block` and register themselves in
`connections` / their app tasks in `tasks`, so graceful shutdown can find them. It must never
hold per-request data.
"""

from __future__ import annotations

import asyncio
import email.utils
from typing import Any


class ServerState:
    """Counters and registries that the server and its protocols share."""

    def __init__(self, extra_headers: list[tuple[bytes, bytes]] | None = None,
                 server_header: bool = True, date_header: bool = True) -> None:
        self.total_requests = 0
        self.connections: set[Any] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self._extra_headers = list(extra_headers or [])
        self._server_header = server_header
        self._date_header = date_header
        # Pre-serialized `name: value\r\n` lines appended to every response head. Rebuilt once a
        # second by the server's tick, so the hot path never formats a date.
        self.default_header_block = b""
        self.refresh_default_headers()

    def refresh_default_headers(self, now: float | None = None) -> None:
        lines = []
        # A user-supplied Server or Date header (`--header`) replaces ours, as in uvicorn.
        custom = {name.lower() for name, _ in self._extra_headers}
        if self._server_header and b"server" not in custom:
            lines.append(b"server: moreweb\r\n")
        if self._date_header and b"date" not in custom:
            date = email.utils.formatdate(now, usegmt=True).encode("latin-1")
            lines.append(b"date: " + date + b"\r\n")
        for name, value in self._extra_headers:
            lines.append(name + b": " + value + b"\r\n")
        self.default_header_block = b"".join(lines)
