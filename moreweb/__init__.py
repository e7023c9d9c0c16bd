"""moreweb: a strict, fast, pure-Python ASGI server.

The package root only exposes the public entry points; it must never import asyncio machinery
at import time beyond what `run` needs, so `import moreweb.http11` stays cheap for tools.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
