"""`--reload`: restart the server in a fresh process whenever a watched source file changes.

The reloader binds the socket once and keeps it, so clients never see "connection refused"
between two generations: their connections wait in the kernel's queue until the new process
accepts them. Each generation is a *spawned* interpreter (not a fork), so it imports
everything from disk: forking would keep stale copies of modules the reloader happens to
have imported, and watchfiles' threads make forking unsafe anyway.

An app that fails to import (a syntax error mid-edit) only ends that generation: its
traceback is printed, the reloader stays up, and the next save starts a new one.

SIGINT/SIGTERM stop the server gracefully and end the reloader with status 0; SIGHUP forces
a restart. The reloader must never import the application itself.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import select
import signal
import socket
import time
from collections.abc import Callable, Sequence
from multiprocessing.context import BaseContext
from pathlib import Path
from types import FrameType

from moreweb.config import Config
from moreweb.supervisors.signals import SignalWakeup
from moreweb.supervisors.watchers import Watcher, create_watcher
from moreweb.supervisors.worker import WorkerHandle, start_worker

__all__ = ["ChangeReload"]

logger = logging.getLogger("moreweb.error")

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
TICK = 0.25
KILL_MARGIN = 5.0

WatcherFactory = Callable[[int], Watcher]


class ChangeReload(SignalWakeup):
    """Serve `config` in a child process and restart it on changes; `run()` returns 0."""

    handled_signals = HANDLED_SIGNALS

    def __init__(self, config: Config, sockets: Sequence[socket.socket],
                 watcher_factory: WatcherFactory | None = None,
                 context: BaseContext | None = None) -> None:
        self.config = config
        self.sockets = list(sockets)
        self.context = context or multiprocessing.get_context("spawn")
        self.directories = _existing_directories(config.reload_dirs) or [os.getcwd()]
        self.watcher_factory = watcher_factory or self._default_watcher
        self.worker: WorkerHandle | None = None
        self.should_exit = False
        self._signals: list[int] = []
        self._wakeup_r = self._wakeup_w = -1

    def _default_watcher(self, interrupt_fd: int) -> Watcher:
        return create_watcher(self.directories, self.config.reload_includes,
                              self.config.reload_excludes, self.config.reload_delay,
                              interrupt_fd=interrupt_fd)

    def run(self) -> int:
        previous = self._install_signals()
        watcher = self.watcher_factory(self._wakeup_r)
        try:
            logger.info("Will watch for changes in these directories: %s", self.directories)
            logger.info("Started reloader process [%d] using %s", os.getpid(), watcher.name)
            self._start()
            while not self.should_exit:
                changes = watcher.wait(TICK)
                self._drain_wakeup()
                restart = self._handle_signals()
                if self.should_exit:
                    break
                if changes:
                    logger.warning("%s detected changes in %s. Reloading...", watcher.name,
                                   _describe(changes))
                    restart = True
                if restart:
                    self._stop()
                    self._start()
                else:
                    self._notice_exit()
            self._stop()
        finally:
            watcher.close()
            if self.worker is not None and self.worker.is_alive():
                self.worker.kill()
                self.worker.join(5)
            self._restore_signals(previous)
        logger.info("Stopping reloader process [%d]", os.getpid())
        return 0

    def _start(self) -> None:
        self.worker = start_worker(self.config, self.sockets, self.context)

    def _notice_exit(self) -> None:
        """Report a server process that ended on its own (a crash, an import error)."""
        worker = self.worker
        if worker is not None and not worker.is_alive():
            worker.join()
            logger.error("Server process [%d] exited with code %s; waiting for file changes "
                         "before restarting.", worker.pid, worker.exitcode())
            self.worker = None

    def _stop(self) -> None:
        """Stop the current generation gracefully (bounded), forwarding repeated signals."""
        worker, self.worker = self.worker, None
        if worker is None:
            return
        worker.retire()
        graceful = self.config.timeout_graceful_shutdown
        deadline = None if graceful is None else time.monotonic() + graceful + KILL_MARGIN
        while worker.is_alive():
            with contextlib.suppress(InterruptedError, OSError):
                select.select([worker.sentinel, self._wakeup_r], [], [], TICK)
            self._drain_wakeup()
            stops = [sig for sig in self._signals if sig in (signal.SIGINT, signal.SIGTERM)]
            self._signals.clear()
            if stops:
                # Ctrl+C while a generation drains: the server's second SIGTERM forces it.
                self.should_exit = True
                worker.retire()
            if deadline is not None and time.monotonic() > deadline and not worker.killed:
                logger.error("Server process [%d] did not stop in time; killing it.",
                             worker.pid)
                worker.kill()
        worker.join()

    # -- signals ---------------------------------------------------------------------------------

    def _handle_signals(self) -> bool:
        """Apply pending signals; return True if a restart was requested."""
        restart = False
        while self._signals:
            sig = self._signals.pop(0)
            if sig == signal.SIGHUP:
                logger.info("SIGHUP: restarting the server process")
                restart = True
            else:
                self.should_exit = True
        return restart

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self._signals.append(sig)

    def _drain_wakeup(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while os.read(self._wakeup_r, 512):
                pass


def _existing_directories(directories: Sequence[str]) -> list[str]:
    found = []
    for directory in directories:
        path = os.path.abspath(directory)
        if os.path.isdir(path):
            found.append(path)
        else:
            logger.warning("--reload-dir %r is not a directory; not watching it.", directory)
    return found


def _describe(changes: set[Path]) -> str:
    cwd = Path.cwd()
    names = []
    for path in sorted(changes)[:5]:
        try:
            names.append(str(path.relative_to(cwd)))
        except ValueError:
            names.append(str(path))
    more = f" and {len(changes) - 5} more" if len(changes) > 5 else ""
    return ", ".join(f"'{name}'" for name in names) + more
