"""The ASGI lifespan protocol: tell the app the server is starting and stopping.

The app runs as one long task for the whole life of the server, receiving
``lifespan.startup`` before any socket is served and ``lifespan.shutdown`` after every
connection has drained. Its ``state`` dict is the one the server later hands to every
request (each gets a shallow copy), which is how apps share connection pools and the like.

Modes: ``on`` (the app must speak lifespan; any failure stops the server), ``off`` (never
call it) and ``auto`` (an app that raises or returns before reading its first message is
taken not to speak lifespan, which many plain HTTP apps do; anything after that is a real
failure). This module must never decide how the server exits; it only reports.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Literal

__all__ = ["Lifespan"]

ASGIApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[MutableMapping[str, Any]]],
        Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]

# How long the app may keep running after acknowledging shutdown before it is cancelled.
_EXIT_GRACE_SECONDS = 1.0


class Lifespan:
    """Drives one lifespan session of one app."""

    def __init__(
        self,
        app: ASGIApp,
        mode: Literal["auto", "on", "off"] | str,
        state: dict[str, Any],
        logger: logging.Logger | None = None,
    ) -> None:
        self.app = app
        self.mode = mode
        self.state = state
        self.logger = logger or logging.getLogger("moreweb.error")
        self.startup_failed = False
        self.shutdown_failed = False
        self.unsupported = False
        self.error: BaseException | None = None
        self._phase: Literal["idle", "startup", "running", "shutdown", "done"] = "idle"
        self._received_any = False
        self._queue: asyncio.Queue[dict[str, Any]] | None = None
        self._startup_done: asyncio.Event | None = None
        self._shutdown_done: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    async def startup(self) -> bool:
        """Run the startup handshake; return False when the server must not start."""
        if not self.enabled:
            return True
        self._queue = asyncio.Queue()
        self._startup_done = asyncio.Event()
        self._shutdown_done = asyncio.Event()
        self.logger.info("Waiting for application startup.")
        self._phase = "startup"
        self._task = asyncio.get_running_loop().create_task(self._main())
        await self._queue.put({"type": "lifespan.startup"})
        await self._startup_done.wait()
        if self.startup_failed:
            self.logger.error("Application startup failed. Exiting.")
            return False
        if not self.unsupported:
            self.logger.info("Application startup complete.")
        return True

    async def shutdown(self) -> None:
        """Run the shutdown handshake, if the app is still there to receive it."""
        if self._task is None or self._task.done() or self._phase != "running":
            await self._reap()
            return
        assert self._queue is not None and self._shutdown_done is not None
        self.logger.info("Waiting for application shutdown.")
        self._phase = "shutdown"
        await self._queue.put({"type": "lifespan.shutdown"})
        await self._shutdown_done.wait()
        if self.shutdown_failed:
            self.logger.error("Application shutdown failed.")
        elif self.error is None:
            self.logger.info("Application shutdown complete.")
        await self._reap()

    async def _reap(self) -> None:
        """Let the app's task finish on its own briefly, then cancel it: never leave it behind."""
        task = self._task
        if task is None or task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), _EXIT_GRACE_SECONDS)
        except asyncio.TimeoutError:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        except asyncio.CancelledError:
            task.cancel()
            raise

    async def _main(self) -> None:
        scope: dict[str, Any] = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        try:
            await self.app(scope, self._receive, self._send)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.error = exc
            self._on_app_exception(exc)
        else:
            self._on_app_return()
        finally:
            if self._phase == "running":
                self._phase = "done"
            assert self._startup_done is not None and self._shutdown_done is not None
            self._startup_done.set()
            self._shutdown_done.set()

    def _on_app_exception(self, exc: Exception) -> None:
        if self._phase == "startup" and self.mode == "auto" and not self._received_any:
            self.unsupported = True
            self.logger.info("ASGI 'lifespan' protocol appears unsupported.")
            self.logger.debug("The app raised on the lifespan scope:", exc_info=exc)
            return
        self.logger.error("Exception in 'lifespan' protocol", exc_info=exc)
        if self._phase == "startup":
            self.startup_failed = True
        elif self._phase == "shutdown":
            self.shutdown_failed = True

    def _on_app_return(self) -> None:
        if self._phase != "startup":
            return
        if self.mode == "auto":
            self.unsupported = True
            if self._received_any:
                self.logger.warning(
                    "ASGI app returned during lifespan startup without sending "
                    "'lifespan.startup.complete'; continuing without lifespan."
                )
            else:
                self.logger.info("ASGI 'lifespan' protocol appears unsupported.")
        else:
            self.startup_failed = True
            self.logger.error(
                "ASGI app returned during lifespan startup without sending "
                "'lifespan.startup.complete'."
            )

    async def _receive(self) -> dict[str, Any]:
        assert self._queue is not None
        self._received_any = True
        return await self._queue.get()

    async def _send(self, message: MutableMapping[str, Any]) -> None:
        assert self._startup_done is not None and self._shutdown_done is not None
        message_type = message.get("type")
        if message_type in ("lifespan.startup.complete", "lifespan.startup.failed"):
            if self._phase != "startup":
                raise RuntimeError(f"Unexpected ASGI message {message_type!r} after startup.")
            if message_type == "lifespan.startup.failed":
                self.startup_failed = True
                self._log_app_message(message)
                self._phase = "done"
            else:
                self._phase = "running"
            self._startup_done.set()
        elif message_type in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            if self._phase != "shutdown":
                raise RuntimeError(f"Unexpected ASGI message {message_type!r} before shutdown.")
            if message_type == "lifespan.shutdown.failed":
                self.shutdown_failed = True
                self._log_app_message(message)
            self._phase = "done"
            self._shutdown_done.set()
        else:
            raise RuntimeError(f"Unexpected ASGI message {message_type!r} in lifespan.")

    def _log_app_message(self, message: MutableMapping[str, Any]) -> None:
        text = message.get("message")
        if text:
            self.logger.error("%s", text)
