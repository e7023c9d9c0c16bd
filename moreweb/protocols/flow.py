"""Flow control shared by the protocols, in both directions.

Writing: asyncio calls `pause_writing`/`resume_writing` as the transport's buffer fills and
drains; an app's `send` awaits `drain()` in between, so a client that stops reading stops the
app instead of growing memory. Reading: a protocol pauses the socket while the app has not
consumed what was already read. It must never buffer on its own behalf.
"""

from __future__ import annotations

import asyncio


class FlowControl:
    """Mixin for an asyncio.Protocol with `loop`, `transport` and a `_lost` flag."""

    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport | None
    _lost: bool

    def _init_flow(self) -> None:
        self.write_paused = False
        self._reading_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self._release_drain_waiters()

    def _release_drain_waiters(self) -> None:
        """Let every waiting send() go on (the buffer drained, or the connection is gone)."""
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._drain_waiters.clear()

    async def drain(self) -> None:
        if self.write_paused and not self._lost:
            waiter = self.loop.create_future()
            self._drain_waiters.append(waiter)
            await waiter

    def pause_reading(self) -> None:
        if not self._reading_paused and not self._lost and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._reading_paused and not self._lost and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
