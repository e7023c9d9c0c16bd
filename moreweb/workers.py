"""`moreweb.workers.MorewebWorker`: run moreweb as a gunicorn worker class.

    gunicorn -k moreweb.workers.MorewebWorker -w 4 -b 0.0.0.0:8000 app:app

gunicorn's arbiter then owns the process tree (binding, SIGHUP reloads, SIGTTIN/SIGTTOU,
--max-requests, killing workers that miss their heartbeat) and each worker is a moreweb
`Server` on gunicorn's listening sockets. gunicorn settings that have a moreweb meaning are
carried over: keepalive, graceful_timeout, max_requests (with its jitter, already applied by
gunicorn), limit_request_fields, forwarded_allow_ips, the TLS options (through gunicorn's own
`ssl_context` hook, so a customised context is honoured), and the error/access log handlers.
Subclasses may add moreweb options in `CONFIG_KWARGS` (e.g. `{"loop": "asyncio"}`).

Signals inside a worker: SIGTERM (gunicorn's graceful stop) drains and stops, a second one
a second or more later forces it; SIGQUIT (gunicorn's quick stop, also what a Ctrl+C makes the
arbiter send) stops at once; SIGINT itself is left to the arbiter; SIGUSR1 reopens log files.

gunicorn is an optional extra (`pip install moreweb[gunicorn]`); this module must never be
imported by moreweb itself, and must never start serving before gunicorn calls `run()`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from types import FrameType
from typing import Any

from gunicorn.arbiter import Arbiter  # type: ignore[import-untyped,import-not-found]
from gunicorn.workers.base import Worker  # type: ignore[import-untyped,import-not-found]

from moreweb.config import Config
from moreweb.server import Server
from moreweb.supervisors.worker import WorkerServer

__all__ = ["MorewebWorker"]

_NOTIFY_INTERVAL_MAX = 1.0


class MorewebWorker(Worker):  # type: ignore[misc]
    """A gunicorn worker serving ASGI apps with moreweb's HTTP/1.1 and WebSocket protocols."""

    CONFIG_KWARGS: dict[str, Any] = {"loop": "auto"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cfg = self.cfg
        self._route_logs()
        options: dict[str, Any] = {
            "log_config": None,
            "access_log": bool(cfg.accesslog),
            "timeout_keep_alive": cfg.keepalive,
            "timeout_graceful_shutdown": cfg.graceful_timeout,
            "forwarded_allow_ips": cfg.forwarded_allow_ips,
            "app_dir": None,
        }
        if cfg.limit_request_fields:
            options["limit_request_fields"] = cfg.limit_request_fields
        if self.max_requests < sys.maxsize:
            options["limit_max_requests"] = self.max_requests
        if cfg.is_ssl:
            options.update(ssl_certfile=cfg.certfile, ssl_keyfile=cfg.keyfile,
                           ssl_cert_reqs=cfg.cert_reqs, ssl_ca_certs=cfg.ca_certs)
            if cfg.ciphers:
                options["ssl_ciphers"] = cfg.ciphers
        options.update(self.CONFIG_KWARGS)
        # The app is gunicorn's to load (in init_process); Config only needs a placeholder.
        self.config = Config(app=None, **options)
        self.server: Server | None = None

    def _route_logs(self) -> None:
        """Send moreweb's log records to gunicorn's error and access log handlers."""
        error = logging.getLogger("moreweb.error")
        error.handlers = list(self.log.error_log.handlers)
        error.setLevel(self.log.error_log.level)
        error.propagate = False
        access = logging.getLogger("moreweb.access")
        if self.cfg.accesslog:
            access.handlers = list(self.log.access_log.handlers)
            access.setLevel(logging.INFO)
        else:
            access.handlers = []
        access.propagate = False

    def init_signals(self) -> None:
        # moreweb's Server handles SIGINT and SIGTERM itself once serving; gunicorn's own
        # handlers would only flip `alive`, which nothing in an asyncio worker polls fast.
        for sig in self.SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGUSR1, self.handle_usr1)
        signal.signal(signal.SIGQUIT, self._handle_quit_now)
        signal.siginterrupt(signal.SIGUSR1, False)

    def _handle_quit_now(self, sig: int, frame: FrameType | None) -> None:
        self.alive = False
        if self.server is not None:
            self.server.should_exit = True
            self.server.force_exit = True
        else:
            sys.exit(0)

    def run(self) -> None:
        from moreweb.main import run_in_new_loop
        from moreweb.sockets import describe_socket

        self.config.app = self.wsgi
        # WorkerServer: the arbiter and a process manager signalling the whole group may
        # both deliver the same SIGTERM; it also ignores SIGINT (the arbiter sends SIGQUIT).
        server = self.server = WorkerServer(self.config)
        sockets = [socket.socket(fileno=os.dup(listener.sock.fileno()))
                   for listener in self.sockets]
        for sock in sockets:
            self.log.debug("moreweb worker on %s", describe_socket(sock, self.cfg.is_ssl))
        try:
            run_in_new_loop(self._serve(server, sockets), self.config.loop)
        except KeyboardInterrupt:  # pragma: no cover - SIGINT is handled by the Server
            pass
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
        sys.exit(server.exit_code)

    async def _serve(self, server: Server, sockets: list[socket.socket]) -> None:
        if self.cfg.is_ssl:
            self._load_with_gunicorn_ssl()
        task = asyncio.ensure_future(server.serve(sockets))
        interval = min(_NOTIFY_INTERVAL_MAX, max(self.timeout / 4, 0.05))
        while not task.done():
            self.notify()  # gunicorn's heartbeat: a stuck loop stops it, and gets killed
            if self.ppid != os.getppid() or not self.alive:
                if not server.should_exit:
                    self.log.info("Parent changed or worker told to stop; shutting down.")
                server.should_exit = True
            await asyncio.wait({task}, timeout=interval)
        task.result()

    def _load_with_gunicorn_ssl(self) -> None:
        """Load now, then use gunicorn's TLS context (it runs the user's ssl_context hook)."""
        from gunicorn.sock import ssl_context  # type: ignore[import-untyped,import-not-found]

        try:
            self.config.load()
        except Exception:
            return  # Server.serve() loads again and reports the error its usual way
        self.config.ssl = ssl_context(self.cfg)
