"""Choosing the event loop implementation behind `--loop auto|asyncio|uvloop`.

uvloop is an optional extra, never a dependency: `auto` uses it when it can be imported and
falls back to the standard library loop silently; `uvloop` insists on it. Config already
rejects `--loop uvloop` when uvloop is missing, so the error raised here only reaches callers
who bypass Config.

This module must never create a loop at import time, install a global event loop policy (an
embedding program may have its own), or import uvloop unless asked for a loop.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable

__all__ = ["LOOP_KINDS", "loop_factory", "new_event_loop", "resolve_loop"]

LOOP_KINDS = ("auto", "asyncio", "uvloop")

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def resolve_loop(kind: str = "auto") -> str:
    """The implementation `kind` stands for here: "asyncio" or "uvloop".

    Raises ImportError for "uvloop" when it is not installed and ValueError for an unknown
    kind, so a typo never silently means "asyncio".
    """
    if kind not in LOOP_KINDS:
        raise ValueError(f"loop: {kind!r} is not one of {', '.join(LOOP_KINDS)}")
    if kind == "asyncio":
        return "asyncio"
    try:
        importlib.import_module("uvloop")
    except ImportError:
        if kind == "uvloop":
            raise ImportError("loop: 'uvloop' is not installed (pip install uvloop)") from None
        return "asyncio"
    return "uvloop"


def loop_factory(kind: str = "auto") -> LoopFactory:
    """A zero-argument callable making new loops of `kind` (for asyncio.Runner and friends)."""
    if resolve_loop(kind) == "uvloop":
        uvloop = importlib.import_module("uvloop")
        factory: LoopFactory = uvloop.new_event_loop
        return factory
    return asyncio.new_event_loop


def new_event_loop(kind: str = "auto") -> asyncio.AbstractEventLoop:
    """A new, not yet running, event loop of `kind`; the caller owns and closes it."""
    return loop_factory(kind)()
