"""`moreweb.run()`: configure, serve until stopped, and exit with the right status.

This is the only place that turns outcomes into process exit codes (1: the app could not be
loaded or the socket bound; 3: lifespan startup failed) and the only place that creates an
event loop. It must never be called from inside a running event loop: embed `Server.serve()`
there instead.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine
from typing import Any

from moreweb.config import Config
from moreweb.logs import configure_logging
from moreweb.server import Server

__all__ = ["new_event_loop", "run", "run_config", "run_in_new_loop", "setup_logging"]

logger = logging.getLogger("moreweb.error")


def run(app: Any, **options: Any) -> None:
    """Serve `app` (an ASGI app or its "module:attr" name) with Config's keyword options.

    Returns after a graceful stop; raises SystemExit with a non-zero code when the server
    could not start.
    """
    config = Config(app, **options)
    setup_logging(config)
    run_config(config)


def setup_logging(config: Config) -> None:
    """Apply the config's logging options (raises ValueError for an unusable --log-config)."""
    configure_logging(
        config.log_config,
        log_level=config.log_level,
        access_log=config.access_log,
        use_colors=config.use_colors,
    )


def run_config(config: Config) -> None:
    """Serve with an already-built Config; exit non-zero if the server could not start."""
    if config.reload or config.workers > 1:
        from moreweb.supervisors import supervise

        code = supervise(config)
        if code:
            sys.exit(code)
        return
    server = Server(config)
    try:
        run_in_new_loop(server.serve(), config.loop)
    except KeyboardInterrupt:
        pass  # a Ctrl+C outside the serving window (before signals were captured)
    if server.exit_code:
        sys.exit(server.exit_code)


def new_event_loop(kind: str = "auto") -> asyncio.AbstractEventLoop:
    """A new event loop: "asyncio", "uvloop", or "auto" (uvloop when it is installed)."""
    from moreweb.loops import new_event_loop as new_loop

    return new_loop(kind)


def run_in_new_loop(coro: Coroutine[Any, Any, None], loop_kind: str = "auto") -> None:
    """Like asyncio.run(), with a choice of loop on every supported Python (3.10 lacks
    asyncio.Runner's loop_factory)."""
    loop = new_event_loop(loop_kind)
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(coro)
    finally:
        try:
            _cancel_all_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    if not pending:
        return
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    for task in pending:
        if not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler({
                "message": "unhandled exception during moreweb shutdown",
                "exception": task.exception(),
                "task": task,
            })
