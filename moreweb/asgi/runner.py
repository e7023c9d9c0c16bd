"""Start an ASGI app coroutine so that a request which never suspends costs no Task switch.

Most requests (a route that computes and answers) run to completion without waiting on I/O.
Scheduling them as a Task costs a loop iteration each; running the first step eagerly, inside
a Task so `asyncio.current_task()` (anyio, asyncio.timeout) still works, removes that. A request
that does suspend simply carries on as the Task it already is: it keeps its own contextvars
copy, its exceptions land where they always did, and graceful shutdown can cancel it.

It must never run an app outside a Task: frameworks rely on `current_task()`.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any

if sys.version_info >= (3, 12):

    def start(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]
              ) -> asyncio.Task[None] | None:
        """Run `coro` eagerly; return its Task if it suspended, None if it already finished.

        Inside another task (a pipelined request started from the previous one's send()),
        the new task is scheduled instead, so a long pipeline never nests app calls deeply.
        """
        eager = asyncio.current_task(loop) is None
        task: asyncio.Task[None] = asyncio.Task(coro, loop=loop, eager_start=eager)
        if task.done():
            if not task.cancelled():
                task.exception()  # mark retrieved: cycles handle their own errors
            return None
        return task

else:

    def start(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]
              ) -> asyncio.Task[None] | None:
        """Python < 3.12 has no eager tasks: schedule a Task (its first step runs next tick)."""
        return loop.create_task(coro)
