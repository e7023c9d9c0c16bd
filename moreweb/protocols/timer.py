"""A per-connection deadline that costs one float store per request, not one timer handle.

Keep-alive and request-head timeouts move on every request. Re-arming a loop timer each time
would allocate a handle per request; instead the deadline is a number, and a single handle
wakes up at most once per timeout period to compare it with the clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Deadline:
    __slots__ = ("_armed_at", "_callback", "_handle", "_loop", "kind", "when")

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[str], None]) -> None:
        self._loop = loop
        self._callback = callback
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at = 0.0
        self.kind = ""      # what expires: "" (nothing), "head", "keep-alive"
        self.when = 0.0

    def set(self, kind: str, timeout: float | None) -> None:
        if timeout is None:
            self.kind = ""
            return
        self.kind = kind
        self.when = when = self._loop.time() + timeout
        if self._handle is None or when < self._armed_at:
            if self._handle is not None:
                self._handle.cancel()
            self._armed_at = when
            self._handle = self._loop.call_at(when, self._fire)

    def clear(self) -> None:
        self.kind = ""

    def cancel(self) -> None:
        self.kind = ""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        if not self.kind:
            return
        if self._loop.time() < self.when:
            self._armed_at = self.when
            self._handle = self._loop.call_at(self.when, self._fire)
            return
        kind, self.kind = self.kind, ""
        self._callback(kind)
