"""`--workers N`: a supervisor process keeping N workers alive on one listening socket.

The supervisor binds and listens once, then forks workers that all accept from the same
socket (the kernel queues connections while workers come and go, so nothing is refused
during a restart). It never accepts a connection and never imports the app itself: every
worker imports the app from disk, which is why a SIGHUP roll picks up deployed code.

Signals, as process managers expect them:
- SIGTERM / SIGINT: graceful stop. Every worker gets SIGTERM and drains its connections
  (bounded by --timeout-graceful-shutdown); then the supervisor exits 0. A second signal is
  forwarded too, and makes workers stop at once.
- SIGHUP: rolling restart, one worker at a time: start a new worker, wait until it is
  listening, then retire an old one. Capacity never drops, so no request is refused.
- SIGTTIN / SIGTTOU: one worker more / one fewer.

A worker that dies (crash, OOM kill, --limit-max-requests recycling) is replaced. A worker
whose heartbeat stops for --timeout-worker-healthcheck seconds is hung: it is killed and
replaced. A worker that fails to start (the app cannot be imported, lifespan startup
fails) ends the supervisor with the same exit code when it happens at first start-up;
later, replacements are retried with growing delays while the other workers keep serving.

The supervisor must never leave a worker behind when it exits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import socket
import time
from collections.abc import Sequence
from multiprocessing.context import BaseContext
from types import FrameType

from moreweb.config import Config
from moreweb.server import EXIT_FAILURE, EXIT_STARTUP_FAILURE
from moreweb.supervisors.signals import SignalWakeup
from moreweb.supervisors.worker import WorkerHandle, process_context, start_worker

__all__ = ["Multiprocess"]

logger = logging.getLogger("moreweb.error")

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGTTIN,
                   signal.SIGTTOU)
TICK = 0.5  # the longest the supervisor sleeps when nothing happens
FAST_TICK = 0.05  # while a worker is starting: readiness is polled, not signalled
BOOT_FAILURES = (EXIT_FAILURE, EXIT_STARTUP_FAILURE)
KILL_MARGIN = 5.0  # seconds past the graceful timeout before a retiring worker is killed
MAX_BACKOFF = 30.0


class Multiprocess(SignalWakeup):
    """Run `config` in `config.workers` worker processes; `run()` returns the exit code."""

    handled_signals = HANDLED_SIGNALS

    def __init__(self, config: Config, sockets: Sequence[socket.socket],
                 context: BaseContext | None = None) -> None:
        self.config = config
        self.sockets = list(sockets)
        self.context = context or process_context()
        self.target = config.workers
        self.healthcheck_timeout = config.timeout_worker_healthcheck
        self.workers: list[WorkerHandle] = []  # serving or starting
        self.retiring: list[WorkerHandle] = []  # asked to stop, not yet gone
        self.exit_code = 0
        self.should_exit = False
        self.ever_ready = False
        self._signals: list[int] = []
        self._roll: list[WorkerHandle] = []  # old workers still to replace (SIGHUP)
        self._roll_new: WorkerHandle | None = None
        self._boot_failures = 0
        self._next_spawn = 0.0
        self._wakeup_r = self._wakeup_w = -1

    # -- the supervisor's life ---------------------------------------------------------------

    def run(self) -> int:
        logger.info("Started parent process [%d]", os.getpid())
        previous = self._install_signals()
        try:
            for _ in range(self.target):
                self._spawn()
            while not self.should_exit:
                starting = any(not worker.ready for worker in self.workers)
                self._wait(FAST_TICK if starting or self._roll else TICK)
                self._handle_signals()
                self._reap()
                self._check_health()
                self._advance_roll()
                self._keep_count()
            self._stop_all()
        finally:
            self._kill_leftovers()
            self._restore_signals(previous)
        logger.info("Stopping parent process [%d]", os.getpid())
        return self.exit_code

    def _spawn(self) -> WorkerHandle:
        worker = start_worker(self.config, self.sockets, self.context)
        self.workers.append(worker)
        logger.debug("Started worker [%d]", worker.pid)
        return worker

    def _retire(self, worker: WorkerHandle) -> None:
        if worker in self.workers:
            self.workers.remove(worker)
        if worker not in self.retiring:
            self.retiring.append(worker)
        worker.retire()

    # -- one tick ------------------------------------------------------------------------------

    def _wait(self, timeout: float) -> None:
        """Sleep until a signal arrives, a worker exits, or `timeout` passes."""
        fds = [self._wakeup_r, *(w.sentinel for w in self.workers + self.retiring)]
        with contextlib.suppress(InterruptedError, OSError):
            readable, _, _ = select.select([fd for fd in fds if fd >= 0], [], [], timeout)
            if self._wakeup_r in readable:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wakeup_r, 512)

    def _handle_signals(self) -> None:
        while self._signals:
            sig = self._signals.pop(0)
            if sig in (signal.SIGINT, signal.SIGTERM):
                self.should_exit = True
            elif sig == signal.SIGHUP:
                self._start_roll()
            elif sig == signal.SIGTTIN:
                self.target += 1
                logger.info("SIGTTIN: increasing to %d workers", self.target)
            elif sig == signal.SIGTTOU:
                if self.target > 1:
                    self.target -= 1
                    logger.info("SIGTTOU: decreasing to %d workers", self.target)
                    if len(self.workers) > self.target:
                        self._retire(self.workers[0])  # the oldest
                else:
                    logger.info("SIGTTOU ignored: already at 1 worker")

    def _reap(self) -> None:
        for worker in list(self.retiring):
            if not worker.is_alive():
                worker.join()
                self.retiring.remove(worker)
                logger.info("Worker [%d] stopped", worker.pid)
        for worker in list(self.workers):
            if worker.is_alive():
                if worker.ready:
                    self.ever_ready = True
                    self._boot_failures = 0  # a worker started: the app is healthy again
                continue
            worker.join()
            self.workers.remove(worker)
            self._worker_died(worker)

    def _worker_died(self, worker: WorkerHandle) -> None:
        code = worker.exitcode()
        if worker is self._roll_new:
            self._roll_new = None
            if not worker.ready:
                logger.error("New worker [%d] failed to start (exit code %s); rolling restart "
                             "abandoned, old workers keep serving.", worker.pid, code)
                self._roll.clear()
                return
        if not worker.ready and code in BOOT_FAILURES:
            if not self.ever_ready:
                logger.error("Worker [%d] failed to start (exit code %s); stopping.",
                             worker.pid, code)
                self.exit_code = int(code or 1)
                self.should_exit = True
                return
            self._boot_failures += 1
            delay = min(MAX_BACKOFF, 0.5 * 2 ** (self._boot_failures - 1))
            self._next_spawn = time.monotonic() + delay
            logger.error("Worker [%d] failed to start (exit code %s); retrying in %.1fs.",
                         worker.pid, code, delay)
            return
        if worker.killed:
            logger.warning("Hung worker [%d] killed; starting a replacement", worker.pid)
        elif code == 0:
            logger.info("Worker [%d] exited; starting a replacement", worker.pid)
        else:
            how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            logger.warning("Worker [%d] died (%s); starting a replacement", worker.pid, how)

    def _check_health(self) -> None:
        now = time.monotonic()
        timeout = self.healthcheck_timeout
        for worker in self.workers:
            if not worker.killed and now - worker.last_sign_of_life > timeout:
                logger.error("Worker [%d] sent no heartbeat for %.0fs; killing it.",
                             worker.pid, now - worker.last_sign_of_life)
                worker.kill()
        graceful = self.config.timeout_graceful_shutdown
        for worker in self.retiring:
            if (graceful is not None and worker.retiring_since is not None
                    and not worker.killed
                    and now - worker.retiring_since > graceful + KILL_MARGIN):
                logger.error("Worker [%d] did not stop in time; killing it.", worker.pid)
                worker.kill()

    def _keep_count(self) -> None:
        if self.should_exit or time.monotonic() < self._next_spawn:
            return
        missing = self.target - len(self.workers)
        if self._boot_failures and missing > 0:
            missing = 1  # while workers fail to start, try them one at a time
        for _ in range(max(0, missing)):
            self._spawn()

    # -- SIGHUP: rolling restart ---------------------------------------------------------------

    def _start_roll(self) -> None:
        if self._roll:
            logger.info("SIGHUP: rolling restart already in progress")
            return
        self._roll = list(self.workers)
        logger.info("SIGHUP: restarting %d workers one by one", len(self._roll))

    def _advance_roll(self) -> None:
        if self.should_exit:
            return
        while self._roll and self._roll[0] not in self.workers:
            self._roll.pop(0)  # died meanwhile: the normal replacement covers it
        if not self._roll:
            return
        if self._roll_new is None:
            self._roll_new = self._spawn()
            return
        if self._roll_new.ready:
            old = self._roll.pop(0)
            self._retire(old)
            logger.info("Worker [%d] replaced by [%d]", old.pid, self._roll_new.pid)
            self._roll_new = None
            if not self._roll:
                logger.info("Rolling restart complete")

    # -- stopping --------------------------------------------------------------------------------

    def _stop_all(self) -> None:
        logger.info("Stopping %d workers", len(self.workers) + len(self.retiring))
        for worker in list(self.workers):
            self._retire(worker)
        graceful = self.config.timeout_graceful_shutdown
        deadline = None if graceful is None else time.monotonic() + graceful + KILL_MARGIN
        while self.retiring:
            self._wait(TICK)
            self._reap()
            # Further SIGINT/SIGTERM: forward them; a worker's second one means "now".
            while self._signals:
                sig = self._signals.pop(0)
                if sig in (signal.SIGINT, signal.SIGTERM):
                    for worker in self.retiring:
                        worker.retire()
            if deadline is not None and time.monotonic() > deadline:
                for worker in self.retiring:
                    if not worker.killed:
                        logger.error("Worker [%d] did not stop in time; killing it.",
                                     worker.pid)
                        worker.kill()
                deadline = time.monotonic() + KILL_MARGIN

    def _kill_leftovers(self) -> None:
        for worker in self.workers + self.retiring:
            if worker.is_alive():
                worker.kill()
            worker.join(5)
        self.workers.clear()
        self.retiring.clear()

    # -- signal plumbing ---------------------------------------------------------------------------

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self._signals.append(sig)
