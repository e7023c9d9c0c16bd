"""ASGI 2 support: tell ASGI 2 apps from ASGI 3 apps, and adapt the former.

An ASGI 2 app is a "double callable": ``app(scope)`` returns an instance that is then awaited
as ``instance(receive, send)``. The rest of moreweb only ever calls ASGI 3 apps, so this is the
one place that knows ASGI 2 exists. It must never call the app while detecting its interface.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Literal

__all__ = ["ASGI2Adapter", "detect_interface"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def detect_interface(app: Any) -> Literal["asgi2", "asgi3"]:
    """Guess which ASGI version `app` implements, by looking at it only.

    Rules, most reliable first: a coroutine function is ASGI 3; a class (calling it builds an
    instance per scope) is ASGI 2 unless its instances are awaitable; otherwise the number of
    positional parameters decides (three for ASGI 3, one for ASGI 2). ASGI 3 is the answer when
    nothing else is conclusive, since it is what every current framework speaks.
    """
    if inspect.isclass(app):
        return "asgi3" if hasattr(app, "__await__") else "asgi2"
    if not callable(app):
        return "asgi3"
    call: Any = app
    if not (inspect.isfunction(app) or inspect.ismethod(app)):
        call = app.__call__  # the instance's bound __call__: what the server will await
    if inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(app):
        return "asgi3"
    positional = _positional_arity(call)
    if positional == 1:
        return "asgi2"
    return "asgi3"


def _positional_arity(func: Callable[..., Any]) -> int | None:
    """Positional parameters `func` accepts (bound `self` excluded); None for *args or unknown."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    count = 0
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            return None
        if parameter.kind in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            count += 1
    return count


class ASGI2Adapter:
    """Presents an ASGI 2 app as an ASGI 3 app."""

    def __init__(self, app: Callable[[Scope], Callable[[Receive, Send], Awaitable[None]]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        instance = self.app(scope)
        await instance(receive, send)
