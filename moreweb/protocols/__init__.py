"""asyncio Protocol classes: they move bytes between sockets and the sans-IO engines.

No protocol here parses HTTP or knows ASGI message rules; they translate wire events.
"""
