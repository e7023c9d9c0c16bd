"""moreweb: a strict, fast, pure-Python ASGI server.

The package root only exposes the public entry points (`run`, `Config`, `Server`), imported
lazily on first use; it must never import asyncio machinery at import time, so
`import moreweb.http11` stays cheap for tools.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Config", "Server", "__version__", "run"]

if TYPE_CHECKING:
    from moreweb.config import Config
    from moreweb.main import run
    from moreweb.server import Server

_LAZY = {"Config": "moreweb.config", "Server": "moreweb.server", "run": "moreweb.main"}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'moreweb' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value
