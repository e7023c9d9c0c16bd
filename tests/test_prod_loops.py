"""--loop auto|asyncio|uvloop: which event loop serves requests.

uvloop is an optional extra: `auto` must use it when it is installed and fall back silently
when it is not; `uvloop` without it is a usage error. "Not installed" is simulated by a stub
module that fails to import, placed first on the server's PYTHONPATH.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
from pathlib import Path

import pytest

from moreweb.loops import loop_factory, new_event_loop, resolve_loop
from tests.helpers_server import REPO_ROOT, ServerProcess, http_get, run_cli, write_app

HAVE_UVLOOP = importlib.util.find_spec("uvloop") is not None

APP = """
import asyncio

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    loop = type(asyncio.get_running_loop())
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": loop.__module__.encode()})
"""


@pytest.fixture
def app_dir(tmp_path: Path) -> str:
    return write_app(tmp_path, "loop_app", APP)


@pytest.fixture
def without_uvloop(tmp_path: Path) -> dict[str, str]:
    stub = tmp_path / "no_uvloop"
    stub.mkdir()
    (stub / "uvloop.py").write_text("raise ImportError('hidden by the test')\n")
    return {"PYTHONPATH": os.pathsep.join([str(stub), str(REPO_ROOT)])}


def served_by(app_dir: str, *options: str, env: dict[str, str] | None = None) -> str:
    with ServerProcess(["loop_app:app", "--app-dir", app_dir, "--port", "0",
                        "--lifespan", "off", *options], env=env) as server:
        return http_get("127.0.0.1", server.port).partition(b"\r\n\r\n")[2].decode()


def test_loop_asyncio_uses_the_standard_library_loop(app_dir: str) -> None:
    assert served_by(app_dir, "--loop", "asyncio").startswith("asyncio.")


@pytest.mark.skipif(not HAVE_UVLOOP, reason="uvloop is not installed")
def test_loop_uvloop_and_auto_use_uvloop_when_installed(app_dir: str) -> None:
    assert served_by(app_dir, "--loop", "uvloop").startswith("uvloop")
    assert served_by(app_dir).startswith("uvloop")  # auto is the default


def test_auto_falls_back_to_asyncio_without_uvloop(app_dir: str,
                                                   without_uvloop: dict[str, str]) -> None:
    assert served_by(app_dir, "--loop", "auto", env=without_uvloop).startswith("asyncio.")


def test_loop_uvloop_without_uvloop_is_a_usage_error(app_dir: str,
                                                     without_uvloop: dict[str, str]) -> None:
    result = run_cli(["loop_app:app", "--app-dir", app_dir, "--loop", "uvloop"],
                     env=without_uvloop)
    assert result.returncode == 2
    assert "uvloop" in result.stderr and "not installed" in result.stderr


@pytest.mark.skipif(not HAVE_UVLOOP, reason="uvloop is not installed")
def test_workers_use_the_chosen_loop(app_dir: str) -> None:
    assert served_by(app_dir, "--workers", "2", "--loop", "asyncio").startswith("asyncio.")
    assert served_by(app_dir, "--workers", "2", "--loop", "uvloop").startswith("uvloop")


def test_resolve_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_loop("asyncio") == "asyncio"
    assert resolve_loop("auto") == ("uvloop" if HAVE_UVLOOP else "asyncio")
    with pytest.raises(ValueError):
        resolve_loop("trio")
    monkeypatch.setitem(sys.modules, "uvloop", None)
    assert resolve_loop("auto") == "asyncio"
    with pytest.raises(ImportError, match="not installed"):
        resolve_loop("uvloop")


def test_new_event_loop_gives_a_fresh_unstarted_loop() -> None:
    loop = new_event_loop("asyncio")
    try:
        assert isinstance(loop, asyncio.AbstractEventLoop)
        assert not loop.is_running() and not loop.is_closed()
        assert loop.run_until_complete(asyncio.sleep(0, "ok")) == "ok"
    finally:
        loop.close()
    assert loop_factory("asyncio") is asyncio.new_event_loop
