"""Memory per idle keep-alive connection: open N connections, one request each, then hold them.

The server's resident memory (summed over its processes) is read after a warm-up and again
once every connection has had its answer and sits idle; the difference divided by the number of
connections still open is the cost of one idle keep-alive connection. Connections the server
closed meanwhile are counted and reported, never silently divided by.

It must never hold more file descriptors than RLIMIT_NOFILE allows (it raises the limit first,
and the servers started afterwards inherit it) and never keep a connection past its run.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
from dataclasses import dataclass

from bench.servers import HOST, RunningServer

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


def raise_nofile(wanted: int) -> int:
    """Raise this process's RLIMIT_NOFILE soft limit towards `wanted`; return the new limit.

    Child processes started later inherit it, which is how the servers get enough descriptors.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return soft
    if hard != resource.RLIM_INFINITY and hard < wanted:
        try:  # only a privileged process may raise the hard limit
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return wanted
        except (ValueError, OSError):
            wanted = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return wanted


@dataclass
class IdleResult:
    requested: int
    opened: int  # connections that got a complete response
    alive: int  # of those, still open when memory was read
    rss_before_kib: int
    rss_after_kib: int
    peak_kib: int
    errors: list[str]

    @property
    def bytes_per_connection(self) -> float | None:
        if self.alive <= 0:
            return None
        return (self.rss_after_kib - self.rss_before_kib) * 1024 / self.alive


async def _read_response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    if not head.startswith(b"HTTP/1.1 200"):
        raise ValueError(f"unexpected response {head[:40]!r}")
    return head


async def _open_one(port: int, timeout: float
                    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout)
    try:
        writer.write(REQUEST)
        await asyncio.wait_for(_read_response(reader), timeout)
    except BaseException:
        writer.close()
        raise
    return reader, writer


async def _hold(server: RunningServer, n: int, concurrency: int, timeout: float,
                settle: float) -> IdleResult:
    errors: list[str] = []
    # Warm-up: a few short-lived connections, so lazily built state is in the baseline.
    for _ in range(8):
        with contextlib.suppress(Exception):
            _, w = await _open_one(server.port, timeout)
            w.close()
    await asyncio.sleep(settle)
    before = server.memory()

    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    gate = asyncio.Semaphore(concurrency)
    deadline = time.monotonic() + max(60.0, n / 100)

    async def one() -> None:
        async with gate:
            if time.monotonic() > deadline:
                return
            try:
                conns.append(await _open_one(server.port, timeout))
            except Exception as exc:
                if len(errors) < 5:
                    errors.append(f"{type(exc).__name__}: {exc}")
                elif len(errors) == 5:
                    errors.append("...")

    try:
        await asyncio.gather(*(one() for _ in range(n)))
        await asyncio.sleep(settle)
        after = server.memory()
        await asyncio.sleep(0)  # let pending EOFs reach the readers
        alive = sum(1 for r, w in conns if not r.at_eof() and not w.is_closing())
        return IdleResult(n, len(conns), alive, before.rss_kib, after.rss_kib, after.peak_kib,
                          errors)
    finally:
        for _, w in conns:
            w.close()
        # Give the transports a moment to close cleanly; never wait on the server for it.
        await asyncio.sleep(0.1)


def measure_idle(server: RunningServer, n: int = 10_000, concurrency: int = 64,
                 timeout: float = 10.0, settle: float = 1.0) -> IdleResult:
    """Open `n` keep-alive connections to `server`, one request each, and measure its RSS.

    Call raise_nofile(n + margin) before starting the server so both sides have descriptors.
    """
    return asyncio.run(_hold(server, n, concurrency, timeout, settle))
