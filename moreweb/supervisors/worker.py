"""One worker process of a supervisor: how it is started, and what it does once started.

The supervisor side (`start_worker`, `WorkerHandle`) and the child side (`worker_main`) meet
in a tiny shared-memory array: the child writes a heartbeat timestamp (CLOCK_MONOTONIC is
system-wide on Linux, so both sides read the same clock) from inside its event loop, and
raises a "ready" flag once it is listening. A loop that stops running stops the heartbeat,
which is how a hung worker is told from a busy one.

A worker ignores SIGINT (a Ctrl+C in a terminal reaches the whole process group; the
supervisor turns it into one SIGTERM per worker, so a single Ctrl+C never counts twice) and
the supervisor's own commands (SIGHUP, SIGTTIN, SIGTTOU), and stops gracefully on SIGTERM,
immediately on a second one (unless the second comes within a second of the first: that is
one stop request delivered both directly and through the supervisor). It also stops when
its supervisor is gone, so a supervisor killed with SIGKILL leaves no orphans serving.

This module must never bind sockets (workers serve the supervisor's) and must never be
imported by the worker's app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from moreweb.config import Config
from moreweb.server import Server

__all__ = ["HEARTBEAT_INTERVAL", "WorkerHandle", "WorkerServer", "start_worker", "worker_main"]

logger = logging.getLogger("moreweb.error")

HEARTBEAT_INTERVAL = 0.1  # cheap (a store and a getppid); also how soon readiness shows
ACCEPT_GRACE = 0.25  # seconds a stopping worker waits for just-accepted requests
DUPLICATE_STOP_WINDOW = 1.0  # a second SIGTERM this soon is the first one delivered twice
_HEARTBEAT, _READY = 0, 1
# Commands meant for the supervisor. Workers ignore them: a signal sent to the whole process
# group (a terminal hang-up, `kill -HUP -PGID`) must not kill (SIGHUP) or suspend
# (SIGTTIN/SIGTTOU) every worker at once.
SUPERVISOR_SIGNALS = (signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU)


class WorkerServer(Server):
    """A Server that leaves SIGINT to its supervisor and hands over accepted connections.

    Workers share one listening socket, so a worker that stops is not the end of service:
    connections it has not accepted yet are accepted by the others. But the ones it accepted
    a moment ago may not have had their request read yet, and closing them would lose
    requests that the client already sent (a reset, with the request in our receive
    buffer). So a stopping worker first stops accepting, then waits `ACCEPT_GRACE` for those
    requests to arrive, which makes them in-flight requests that the drain completes.
    """

    _first_stop_at: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None = None) -> None:
        if sig == signal.SIGINT:
            return
        now = time.monotonic()
        if self._first_stop_at is None:
            self._first_stop_at = now
        elif now - self._first_stop_at < DUPLICATE_STOP_WINDOW:
            # The same stop delivered twice: a process manager that signals the whole
            # process group (systemd's default KillMode) *and* our supervisor forwarding it.
            # Only a deliberate second request, later, means "stop now".
            return
        super().handle_exit(sig, frame)

    async def shutdown(self) -> None:
        for server in self.servers:
            server.close()
        if self.server_state.connections:
            await asyncio.sleep(ACCEPT_GRACE)
        await super().shutdown()


class WorkerHandle:
    """The supervisor's view of one worker process."""

    def __init__(self, process: BaseProcess, shared: Any) -> None:
        self.process = process
        self.shared = shared
        self.started_at = time.monotonic()
        self.retiring_since: float | None = None  # when we asked it to stop
        self.killed = False

    @property
    def pid(self) -> int:
        return int(self.process.pid or 0)

    @property
    def ready(self) -> bool:
        return bool(self.shared[_READY])

    @property
    def last_sign_of_life(self) -> float:
        return max(float(self.shared[_HEARTBEAT]), self.started_at)

    @property
    def sentinel(self) -> int:
        return int(self.process.sentinel)

    def is_alive(self) -> bool:
        return self.process.is_alive()

    def exitcode(self) -> int | None:
        return self.process.exitcode

    def retire(self) -> None:
        """Ask for a graceful stop (again: a second request forces it)."""
        if self.retiring_since is None:
            self.retiring_since = time.monotonic()
        self.signal(signal.SIGTERM)

    def kill(self) -> None:
        self.killed = True
        self.signal(signal.SIGKILL)

    def signal(self, sig: int) -> None:
        if self.process.pid is not None and self.process.exitcode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, sig)

    def join(self, timeout: float | None = None) -> None:
        self.process.join(timeout)


def process_context() -> BaseContext:
    """fork where it is safe and available (Linux): fast, and the app may be an object."""
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def start_worker(config: Config, sockets: Sequence[socket.socket],
                 context: BaseContext | None = None) -> WorkerHandle:
    context = context or process_context()
    shared = context.Array("d", 2, lock=False)  # type: ignore[attr-defined]
    spawned = context.get_start_method() != "fork"
    process = context.Process(  # type: ignore[attr-defined]
        target=worker_main, args=(config, list(sockets), shared, os.getpid(), spawned),
        name="moreweb-worker",
    )
    process.start()
    return WorkerHandle(process, shared)


def worker_main(config: Config, sockets: list[socket.socket], shared: Any, parent_pid: int,
                spawned: bool) -> None:
    """The worker process: serve on the supervisor's sockets until told to stop."""
    _reset_signals()
    if spawned:
        from moreweb.main import setup_logging

        setup_logging(config)
    from moreweb.main import run_in_new_loop

    server = WorkerServer(config)
    try:
        run_in_new_loop(_serve(server, sockets, shared, parent_pid), config.loop)
    except KeyboardInterrupt:  # pragma: no cover - SIGINT is ignored; belt and braces
        pass
    sys.exit(server.exit_code)


async def _serve(server: Server, sockets: Sequence[socket.socket], shared: Any,
                 parent_pid: int) -> None:
    task = asyncio.ensure_future(server.serve(sockets))
    while not task.done():
        shared[_HEARTBEAT] = time.monotonic()
        if server.started and not shared[_READY]:
            shared[_READY] = 1.0
        if os.getppid() != parent_pid and not server.should_exit:
            logger.warning("Supervisor [%d] is gone; shutting down.", parent_pid)
            server.should_exit = True
        await asyncio.wait({task}, timeout=HEARTBEAT_INTERVAL)
    task.result()


def _reset_signals() -> None:
    with contextlib.suppress(ValueError):
        signal.set_wakeup_fd(-1)
    for sig in SUPERVISOR_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
