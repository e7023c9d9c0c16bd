"""Run raw cases against a live server, concurrently and within a bounded time.

Cases are independent connections, so they run side by side on one event loop (bounded by a
semaphore) and a full run stays in seconds. This module must never start or stop servers (the
caller owns their lifetime) and never interpret results beyond calling the judge.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable

from conformance.judge import finals_and_close, judge
from conformance.model import Case, Result
from conformance.wire import exchange

CONCURRENCY = 16


async def run_case(case: Case, port: int) -> Result:
    finals, close = finals_and_close(case)
    transcript = await exchange(port, case.send, finals=finals, close_expected=close,
                                head_requests=case.head_requests,
                                await_interim=case.await_interim)
    return judge(case, transcript)


async def gather_bounded(jobs: Iterable[Awaitable[Result]],
                         limit: int = CONCURRENCY) -> list[Result]:
    """Await `jobs` with at most `limit` in flight; results keep the input order."""
    semaphore = asyncio.Semaphore(limit)

    async def bounded(job: Awaitable[Result]) -> Result:
        async with semaphore:
            return await job

    return list(await asyncio.gather(*(bounded(job) for job in jobs)))


async def run_cases(cases: Iterable[Case], port: int, lenient_port: int | None = None,
                    limit: int = CONCURRENCY) -> list[Result]:
    """Strict cases go to `port`; lenient ones to `lenient_port` (or `port` when None)."""
    return await gather_bounded(
        (run_case(case, lenient_port if case.lenient and lenient_port else port)
         for case in cases), limit)
