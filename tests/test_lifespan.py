"""ASGI lifespan: the handshake, the three modes, failures, and the shared state dict."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from moreweb.asgi import lifespan as lifespan_module
from moreweb.asgi.lifespan import Lifespan
from tests.helpers_server import ServerProcess, http_get, run_cli, write_app

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, 5)

    return asyncio.run(bounded())


async def well_behaved_app(scope: Any, receive: Any, send: Any) -> None:
    assert scope["type"] == "lifespan"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.0"}
    message = await receive()
    assert message["type"] == "lifespan.startup"
    scope["state"]["pool"] = "connected"
    await send({"type": "lifespan.startup.complete"})
    message = await receive()
    assert message["type"] == "lifespan.shutdown"
    scope["state"]["pool"] = "closed"
    await send({"type": "lifespan.shutdown.complete"})


def test_startup_and_shutdown_complete_and_share_state(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "moreweb.error")
    state: dict[str, Any] = {}
    lifespan = Lifespan(well_behaved_app, "on", state)

    async def scenario() -> list[Any]:
        seen = [await lifespan.startup(), dict(state)]
        await lifespan.shutdown()
        return [*seen, dict(state)]

    assert run(scenario()) == [True, {"pool": "connected"}, {"pool": "closed"}]
    assert caplog.messages == [
        "Waiting for application startup.",
        "Application startup complete.",
        "Waiting for application shutdown.",
        "Application shutdown complete.",
    ]


def test_startup_failed_message_is_logged_and_stops_startup(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "database unreachable"})

    lifespan = Lifespan(app, "auto", {})

    async def scenario() -> bool:
        ok = await lifespan.startup()
        await lifespan.shutdown()
        return ok

    assert run(scenario()) is False
    assert lifespan.startup_failed is True
    assert "database unreachable" in caplog.messages
    assert "Application startup failed. Exiting." in caplog.messages


async def raises_immediately(scope: Any, receive: Any, send: Any) -> None:
    raise ValueError("only http here")


async def returns_immediately(scope: Any, receive: Any, send: Any) -> None:
    return


@pytest.mark.parametrize("app", [raises_immediately, returns_immediately])
def test_auto_mode_tolerates_apps_that_do_not_speak_lifespan(
    app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "moreweb.error")
    lifespan = Lifespan(app, "auto", {})

    async def scenario() -> bool:
        ok = await lifespan.startup()
        await lifespan.shutdown()
        return ok

    assert run(scenario()) is True
    assert lifespan.unsupported is True
    assert "ASGI 'lifespan' protocol appears unsupported." in caplog.messages
    assert not any(r.levelno >= logging.ERROR for r in caplog.records)


@pytest.mark.parametrize("app", [raises_immediately, returns_immediately])
def test_on_mode_fails_for_apps_that_do_not_speak_lifespan(app: Any) -> None:
    lifespan = Lifespan(app, "on", {})
    assert run(lifespan.startup()) is False
    assert lifespan.startup_failed is True


def test_exception_after_receiving_startup_is_a_failure_even_in_auto_mode(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The app does speak lifespan (it read the event); its startup code crashed.
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        raise RuntimeError("cache warm-up crashed")

    lifespan = Lifespan(app, "auto", {})
    assert run(lifespan.startup()) is False
    error = next(r for r in caplog.records if r.getMessage() == "Exception in 'lifespan' protocol")
    assert error.exc_info is not None and "cache warm-up crashed" in str(error.exc_info[1])


def test_shutdown_failed_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.failed", "message": "flush failed"})

    lifespan = Lifespan(app, "on", {})

    async def scenario() -> None:
        await lifespan.startup()
        await lifespan.shutdown()

    run(scenario())
    assert lifespan.shutdown_failed is True
    assert "flush failed" in caplog.messages
    assert "Application shutdown failed." in caplog.messages


def test_exception_during_shutdown_is_a_shutdown_failure() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        raise RuntimeError("boom on the way out")

    lifespan = Lifespan(app, "on", {})

    async def scenario() -> None:
        await lifespan.startup()
        await lifespan.shutdown()

    run(scenario())
    assert lifespan.shutdown_failed is True and lifespan.startup_failed is False


def test_off_mode_never_calls_the_app() -> None:
    called = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        called.append(scope)

    lifespan = Lifespan(app, "off", {})

    async def scenario() -> bool:
        ok = await lifespan.startup()
        await lifespan.shutdown()
        return ok

    assert run(scenario()) is True
    assert called == []


def test_unexpected_message_type_is_an_app_error() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200})

    lifespan = Lifespan(app, "on", {})
    assert run(lifespan.startup()) is False
    assert isinstance(lifespan.error, RuntimeError)


def test_app_lingering_after_shutdown_is_cancelled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lifespan_module, "_EXIT_GRACE_SECONDS", 0.05)
    cancelled = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    lifespan = Lifespan(app, "on", {})

    async def scenario() -> bool:
        await lifespan.startup()
        await lifespan.shutdown()
        assert lifespan._task is not None
        return lifespan._task.done()

    assert run(scenario()) is True
    assert cancelled == [True]


# -- end to end, through the command line -------------------------------------------------------

STATEFUL_APP = """
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        message = await receive()
        scope["state"]["greeting"] = "hello from lifespan"
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = (scope["state"]["greeting"] + " " + str(sorted(scope["state"]))).encode()
    scope["state"]["mutated"] = True  # must not leak into the next request's copy
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
"""

FAILING_APP = """
async def app(scope, receive, send):
    await receive()
    await send({"type": "lifespan.startup.failed", "message": "cannot reach the database"})
"""

NO_LIFESPAN_APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        raise RuntimeError("this app only speaks http")
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})
"""


def test_lifespan_state_reaches_each_request_as_a_copy(tmp_path: Path) -> None:
    app_dir = write_app(tmp_path, "stateful_app", STATEFUL_APP)
    with ServerProcess(["stateful_app:app", "--app-dir", app_dir, "--port", "0",
                        "--lifespan", "on"]) as server:
        first = http_get("127.0.0.1", server.port)
        second = http_get("127.0.0.1", server.port)
    expected = b"hello from lifespan ['greeting']"
    assert first.endswith(expected) and second.endswith(expected)


def test_lifespan_startup_failure_exits_3_with_the_apps_message(tmp_path: Path) -> None:
    app_dir = write_app(tmp_path, "failing_app", FAILING_APP)
    result = run_cli(["failing_app:app", "--app-dir", app_dir, "--port", "0"])
    assert result.returncode == 3
    assert "ERROR:    cannot reach the database" in result.stderr
    assert "Application startup failed. Exiting." in result.stderr
    assert "running on" not in result.stderr


def test_auto_mode_serves_an_app_without_lifespan_support(tmp_path: Path) -> None:
    app_dir = write_app(tmp_path, "no_lifespan_app", NO_LIFESPAN_APP)
    with ServerProcess(["no_lifespan_app:app", "--app-dir", app_dir, "--port", "0"]) as server:
        response = http_get("127.0.0.1", server.port)
        assert response.startswith(b"HTTP/1.1 200") and response.endswith(b"ok")
    assert "ASGI 'lifespan' protocol appears unsupported." in server.stderr_text
    assert "ERROR" not in server.stderr_text
