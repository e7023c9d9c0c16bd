"""One socket read buffer per thread, shared by every connection's protocol.

asyncio's plain `data_received` path allocates a fresh 256 KiB bytes object for every read.
glibc serves that size with mmap + mremap + munmap, page faults included, until the process
happens to free a larger block and raises its mmap threshold: about twice the CPU per small
request or message, and it varies from one process start to the next (bench/). Protocols that
read through `asyncio.BufferedProtocol` into this buffer pay one small copy instead. An event
loop runs one read at a time and each is copied out before the next, so sharing is safe; it
must never hold data across reads.
"""

from __future__ import annotations

import threading

READ_SIZE = 256 * 1024
_buffers = threading.local()


def read_buffer() -> memoryview:
    buffer: memoryview | None = getattr(_buffers, "view", None)
    if buffer is None:
        buffer = _buffers.view = memoryview(bytearray(READ_SIZE))
    return buffer
