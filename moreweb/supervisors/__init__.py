"""Supervisors: processes that own the listening socket and run servers in child processes.

`supervise(config)` is the entry point `moreweb.main` uses when `--reload` or `--workers N`
(N > 1) is given: it binds the socket once, hands it to `ChangeReload` or `Multiprocess`,
and cleans up after them. `--reload` wins over `--workers`, as with uvicorn.

Nothing here may import the application: only the child processes do.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from typing import TYPE_CHECKING

from moreweb.server import EXIT_FAILURE
from moreweb.sockets import bind_sockets

if TYPE_CHECKING:
    from moreweb.config import Config

__all__ = ["supervise"]

logger = logging.getLogger("moreweb.error")


def supervise(config: Config) -> int:
    """Run `config` under the reloader or the worker supervisor; return the exit status."""
    from moreweb.supervisors.worker import process_context

    needs_import_string = config.reload or process_context().get_start_method() != "fork"
    if needs_import_string and not isinstance(config.app, str):
        logger.error("To use %s, pass the application as an import string "
                     "(\"module:attribute\"), not as an object.",
                     "--reload" if config.reload else "--workers")
        return EXIT_FAILURE
    if config.reload and config.workers > 1:
        logger.warning("--reload runs a single server process; ignoring --workers %d.",
                       config.workers)

    try:
        sockets = bind_sockets(config)
        # Listening here, once, means the kernel queues connections while workers start,
        # restart or reload: clients wait instead of being refused.
        for sock in sockets:
            sock.listen(config.backlog)
    except OSError as exc:
        logger.error("Could not bind the listening socket: %s", exc)
        return EXIT_FAILURE
    try:
        if config.reload:
            from moreweb.supervisors.reload import ChangeReload

            return ChangeReload(config, sockets).run()
        from moreweb.supervisors.multiprocess import Multiprocess

        return Multiprocess(config, sockets).run()
    finally:
        for sock in sockets:
            sock.close()
        if config.uds:
            with contextlib.suppress(OSError):
                if _is_socket(config.uds):
                    os.unlink(config.uds)


def _is_socket(path: str) -> bool:
    return stat.S_ISSOCK(os.stat(path).st_mode)
