"""The server's life: start, serve, drain, stop.

`Server.serve()` loads the app, runs lifespan startup, listens, ticks a main loop (the Date
header, `should_exit`, the max-requests limit) and on a stop request shuts down gracefully:
close the listeners, ask every connection to finish its current response, wait for them up to
`timeout_graceful_shutdown`, then force what is left, and run lifespan shutdown last.
It is embeddable: it never exits the process and never owns the event loop; the outcome is in
`exit_code` for `moreweb.main.run` to act on. It must never parse HTTP: that is the protocol's
job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Generator, Sequence
from types import FrameType
from typing import Any, TypeVar

from moreweb.asgi.lifespan import Lifespan
from moreweb.config import AppLoadError, Config, TLSSetupError
from moreweb.server_state import ServerState
from moreweb.sockets import bind_sockets, describe_socket

__all__ = ["EXIT_FAILURE", "EXIT_STARTUP_FAILURE", "Server"]

logger = logging.getLogger("moreweb.error")

EXIT_FAILURE = 1  # the app, TLS or the listening socket could not be set up
EXIT_STARTUP_FAILURE = 3  # the code uvicorn uses, so supervisors can tell the two apart

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_TICK_SECONDS = 0.1
_TICKS_PER_HEADER_REFRESH = 10  # the Date header has one-second resolution

_STARTED_COLOR_MESSAGE = "moreweb running on \x1b[1m%s\x1b[0m (Press CTRL+C to quit)"

T = TypeVar("T")


class Server:
    """One server: its listeners, connections and lifespan, driven by `serve()`."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.server_state = ServerState(
            extra_headers=config.encoded_headers,
            server_header=config.server_header,
            date_header=config.date_header,
        )
        # The lifespan `state` dict; HttpProtocol gives each request a shallow copy of it.
        self.app_state: dict[str, Any] = {}
        self.servers: list[asyncio.AbstractServer] = []
        self.lifespan: Lifespan | None = None
        self.started = False
        self.should_exit = False
        self.force_exit = False
        self.exit_code = 0
        self._unix_paths: list[str] = []  # socket files we created, removed on shutdown
        self._max_requests: int | None = None
        if config.limit_max_requests is not None:
            jitter = random.randint(0, config.limit_max_requests_jitter)
            self._max_requests = config.limit_max_requests + jitter

    def run(self, sockets: Sequence[socket.socket] | None = None) -> None:
        """Serve in a new event loop of the configured kind until stopped."""
        from moreweb.main import run_in_new_loop

        run_in_new_loop(self.serve(sockets), self.config.loop)

    async def serve(self, sockets: Sequence[socket.socket] | None = None) -> None:
        """Serve until `should_exit` is set or a signal arrives; see the module docstring.

        `sockets`, when given, are used instead of binding from the config; they are closed
        when the server stops.
        """
        with self._capture_signals():
            await self._serve(sockets)

    async def _serve(self, sockets: Sequence[socket.socket] | None) -> None:
        process_id = os.getpid()
        try:
            self.config.load()
        except AppLoadError as exc:
            logger.error("Error loading ASGI app. %s", exc)
            self.exit_code = EXIT_FAILURE
            return
        except TLSSetupError as exc:
            logger.error("%s", exc)
            self.exit_code = EXIT_FAILURE
            return
        except Exception:
            logger.exception("Error loading ASGI app.")
            self.exit_code = EXIT_FAILURE
            return

        self.lifespan = Lifespan(self.config.loaded_app, self.config.lifespan, self.app_state)
        logger.info("Started server process [%d]", process_id)
        await self.startup(sockets)
        if self.started:
            await self.main_loop()
            await self.shutdown()
        logger.info("Finished server process [%d]", process_id)

    async def startup(self, sockets: Sequence[socket.socket] | None = None) -> None:
        """Lifespan startup, then listen; on failure set `exit_code` and leave `started` False."""
        assert self.lifespan is not None
        # A second signal abandons a startup that hangs; the first only stops us afterwards.
        started = await self._until_forced(self.lifespan.startup(), None)
        if started is None:
            await self.lifespan.shutdown()
            return
        if not started:
            self.exit_code = EXIT_STARTUP_FAILURE
            await self.lifespan.shutdown()
            return
        if self.should_exit:
            # Stopped (e.g. Ctrl+C) while the app was starting: never open the doors.
            await self._lifespan_shutdown()
            return

        config = self.config
        try:
            if sockets is not None:
                listen_sockets = list(sockets)
            else:
                listen_sockets = bind_sockets(config)
                if config.uds:
                    self._unix_paths.append(config.uds)
        except OSError as exc:
            logger.error("Could not bind the listening socket: %s", exc)
            self.exit_code = EXIT_FAILURE
            await self._lifespan_shutdown()
            return

        protocol_class = config.protocol_class
        if protocol_class is None:
            from moreweb.protocols.http import HttpProtocol

            protocol_class = HttpProtocol

        def create_protocol() -> asyncio.BaseProtocol:
            return protocol_class(config, self.server_state, self.app_state)

        loop = asyncio.get_running_loop()
        # prod (issue 6): the TLS handshake counts against the request-head timeout, so a
        # client that connects and never handshakes cannot hold a connection for asyncio's
        # default 60 s (the protocol's own head deadline only starts after the handshake).
        tls: dict[str, Any] = {} if config.ssl is None else {
            "ssl": config.ssl, "ssl_handshake_timeout": config.timeout_request_head}
        try:
            for sock in listen_sockets:
                server: asyncio.AbstractServer
                if sock.family == socket.AF_UNIX:
                    server = await loop.create_unix_server(
                        create_protocol, sock=sock, backlog=config.backlog, **tls
                    )
                else:
                    server = await loop.create_server(
                        create_protocol, sock=sock, backlog=config.backlog, **tls
                    )
                self.servers.append(server)
        except OSError as exc:
            logger.error("Could not listen: %s", exc)
            for server in self.servers:
                server.close()
            for sock in listen_sockets:
                sock.close()
            self._remove_unix_paths()
            self.exit_code = EXIT_FAILURE
            await self._lifespan_shutdown()
            return

        for sock in listen_sockets:
            where = describe_socket(sock, config.is_ssl)
            logger.info(
                "moreweb running on %s (Press CTRL+C to quit)",
                where,
                extra={"color_message": _STARTED_COLOR_MESSAGE},
            )
        self.started = True

    async def main_loop(self) -> None:
        """Tick until asked to stop."""
        counter = 0
        while not self._on_tick(counter):
            counter = (counter + 1) % 864_000
            await asyncio.sleep(_TICK_SECONDS)

    def _on_tick(self, counter: int) -> bool:
        """One tick of housekeeping; return True when the server should stop."""
        if counter % _TICKS_PER_HEADER_REFRESH == 0:
            self.server_state.refresh_default_headers(time.time())
        if self.should_exit:
            return True
        if self._max_requests is not None and (
            self.server_state.total_requests >= self._max_requests
        ):
            logger.warning(
                "Maximum request limit of %d exceeded. Terminating process.", self._max_requests
            )
            self.should_exit = True
            return True
        return False

    async def shutdown(self) -> None:
        """Stop listening, drain connections (bounded by the graceful timeout), then lifespan."""
        logger.info("Shutting down")
        state = self.server_state
        for server in self.servers:
            server.close()
        for connection in list(state.connections):
            try:
                connection.shutdown()
            except Exception:
                logger.exception("Error asking a connection to shut down")

        timeout = self.config.timeout_graceful_shutdown
        try:
            await self._until_forced(self._drain(), timeout)
        except asyncio.TimeoutError:
            logger.error(
                "Graceful shutdown timed out after %ss; closing %d connection(s) and "
                "cancelling %d task(s).", timeout, len(state.connections), len(state.tasks),
            )
        await self._force_close()

        for server in self.servers:
            # Every connection is gone now, so this cannot wait on a client (since Python
            # 3.12 wait_closed() waits for all of a server's connections).
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 1.0)

        self._remove_unix_paths()
        if not self.force_exit:
            await self._lifespan_shutdown()

    def _remove_unix_paths(self) -> None:
        for path in self._unix_paths:
            with contextlib.suppress(OSError):
                os.unlink(path)
        self._unix_paths.clear()

    async def _drain(self) -> None:
        state = self.server_state
        if state.connections or state.tasks:
            logger.info("Waiting for connections to close. (CTRL+C to force quit)")
        # A task cancelled before its first step never runs its own cleanup: ignore done ones.
        while state.connections or any(not task.done() for task in state.tasks):
            await asyncio.sleep(_TICK_SECONDS)

    async def _force_close(self) -> None:
        state = self.server_state
        tasks = [task for task in state.tasks if not task.done()]
        for task in tasks:
            task.cancel()
        for connection in list(state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None and not transport.is_closing():
                # abort(), not close(): a client that stopped reading must not hold us up.
                transport.abort()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)

    async def _lifespan_shutdown(self) -> None:
        if self.lifespan is None:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await self._until_forced(self.lifespan.shutdown(), None)

    async def _until_forced(self, awaitable: Awaitable[T], timeout: float | None) -> T | None:
        """Await `awaitable`, giving up (and cancelling it) if `force_exit` becomes true.

        Raises asyncio.TimeoutError after `timeout` seconds; returns None when forced.
        """
        task = asyncio.ensure_future(awaitable)
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        try:
            while not task.done():
                if self.force_exit:
                    return None
                wait = _TICK_SECONDS
                if deadline is not None:
                    remaining = deadline - asyncio.get_running_loop().time()
                    if remaining <= 0:
                        raise asyncio.TimeoutError
                    wait = min(wait, remaining)
                await asyncio.wait({task}, timeout=wait)
            return task.result()
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def handle_exit(self, sig: int, frame: FrameType | None = None) -> None:
        """First signal: stop gracefully. Second: stop now."""
        if self.should_exit:
            self.force_exit = True
        else:
            self.should_exit = True

    @contextlib.contextmanager
    def _capture_signals(self) -> Generator[None, None, None]:
        """Route SIGINT/SIGTERM to handle_exit while serving; restore the old handlers after.

        Signals can only be handled in the main thread; elsewhere the embedding program is
        expected to set `should_exit` itself.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        loop = asyncio.get_running_loop()
        previous = {sig: signal.getsignal(sig) for sig in HANDLED_SIGNALS}
        installed: list[int] = []
        try:
            for sig in HANDLED_SIGNALS:
                try:
                    loop.add_signal_handler(sig, self.handle_exit, sig, None)
                except NotImplementedError:  # pragma: no cover - Windows event loops
                    signal.signal(sig, self.handle_exit)
                installed.append(sig)
            yield
        finally:
            for number in installed:
                with contextlib.suppress(NotImplementedError, ValueError, RuntimeError):
                    loop.remove_signal_handler(number)
                handler = previous[signal.Signals(number)]
                signal.signal(number, handler if handler is not None else signal.SIG_DFL)
