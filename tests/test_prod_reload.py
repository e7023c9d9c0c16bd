"""--reload: the reloader end to end, and the file watchers it uses.

End-to-end tests run `python -m moreweb --reload` on 127.0.0.1 port 0 against an app in a
temporary directory, edit the app, and check what is served. They run once with the
standard-library poller (watchfiles hidden by a stub module that fails to import) and once
with watchfiles when it is installed. Watcher unit tests use temporary trees.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from moreweb.supervisors.watchers import PathFilter, PollingWatcher, create_watcher
from tests.helpers_server import REPO_ROOT, ServerProcess, http_get, wait_for_line

VERSION_APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({{"type": "http.response.start", "status": 200, "headers": []}})
    await send({{"type": "http.response.body", "body": b"{version}"}})
"""


def write_version(directory: Path, version: str, name: str = "reload_app.py") -> None:
    path = directory / name
    path.write_text(VERSION_APP.format(version=version))
    # Some filesystems keep one-second mtimes: make sure the edit is visible as one.
    stamp = time.time() + 1 + len(version) * 0.001
    os.utime(path, (stamp, stamp))


def body(port: int, timeout: float = 5.0) -> bytes:
    return http_get("127.0.0.1", port, timeout=timeout).partition(b"\r\n\r\n")[2]


def wait_for_body(port: int, expected: bytes, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    last = b""
    while time.monotonic() < deadline:
        try:
            last = body(port, timeout=2)
        except OSError:
            last = b"<no answer>"
        if last == expected:
            return
        time.sleep(0.1)
    raise AssertionError(f"expected {expected!r}, last answer {last!r}")


@pytest.fixture(params=["stdlib", "watchfiles"])
def watcher_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """Environment for the server process that selects the watcher under test."""
    if request.param == "watchfiles":
        pytest.importorskip("watchfiles")
        return {}
    stub = tmp_path / "no_watchfiles"
    stub.mkdir()
    (stub / "watchfiles.py").write_text("raise ImportError('hidden by the test')\n")
    return {"PYTHONPATH": os.pathsep.join([str(stub), str(REPO_ROOT)])}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    write_version(directory, "v1")
    return directory


@pytest.fixture
def reloading(project: Path, watcher_env: dict[str, str]) -> Iterator[ServerProcess]:
    args = ["reload_app:app", "--app-dir", str(project), "--port", "0", "--reload",
            "--reload-dir", str(project), "--reload-delay", "0.1", "--no-access-log",
            "--lifespan", "off", "--reload-include", "*.html",
            "--reload-exclude", "ignored_*.py"]
    with ServerProcess(args, env=watcher_env, cwd=str(project)) as server:
        yield server


def test_reload_picks_up_an_edited_file(reloading: ServerProcess, project: Path,
                                        watcher_env: dict[str, str]) -> None:
    server = reloading
    expected = "StatReload" if watcher_env else "WatchFiles"
    wait_for_line(server, rf"Started reloader process \[\d+\] using {expected}")
    assert body(server.port) == b"v1"
    write_version(project, "v2")
    wait_for_line(server, r"detected changes in 'reload_app.py'. Reloading")
    wait_for_body(server.port, b"v2")


def test_a_syntax_error_keeps_the_reloader_alive_and_the_next_save_recovers(
        reloading: ServerProcess, project: Path) -> None:
    server = reloading
    assert body(server.port) == b"v1"
    (project / "reload_app.py").write_text("async def app(:\n")
    wait_for_line(server, r"SyntaxError")
    wait_for_line(server, r"exited with code 1; waiting for file changes")
    assert server.proc is not None and server.proc.poll() is None  # the reloader lives
    write_version(project, "v3")
    wait_for_body(server.port, b"v3")


def test_include_and_exclude_patterns(reloading: ServerProcess, project: Path) -> None:
    server = reloading
    write_version(project, "v4", name="ignored_helper.py")  # excluded: no reload
    (project / "page.html").write_text("<p>hi</p>")  # included by --reload-include
    wait_for_line(server, r"detected changes in 'page.html'")
    assert "ignored_helper.py" not in server.stderr_text


def test_sighup_restarts_and_sigterm_stops_with_status_0(reloading: ServerProcess) -> None:
    server = reloading
    wait_for_line(server, r"moreweb running on")
    server.send_signal(signal.SIGHUP)
    wait_for_line(server, r"SIGHUP: restarting the server process")
    wait_for_line(server, r"moreweb running on", count=2)
    assert body(server.port) == b"v1"
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=15) == 0
    assert "Stopping reloader process" in server.stderr_text


def test_reload_needs_an_import_string() -> None:
    from moreweb.config import Config
    from moreweb.supervisors import supervise

    async def app(scope: object, receive: object, send: object) -> None:
        pass

    assert supervise(Config(app, reload=True, port=0)) == 1


# -- the watchers ---------------------------------------------------------------------------

def touch(path: Path, text: str = "x = 1\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    stamp = time.time() + 2
    os.utime(path, (stamp, stamp))


def make_tree(root: Path) -> None:
    touch(root / "app.py")
    touch(root / "pkg" / "module.py")
    touch(root / "pkg" / "data.json")
    touch(root / ".venv" / "lib" / "dep.py")
    touch(root / "pkg" / "__pycache__" / "module.cpython-311.pyc")
    touch(root / "node_modules" / "x.py")


def test_path_filter_defaults_and_patterns(tmp_path: Path) -> None:
    default = PathFilter()
    assert default.watches_file("/p/app.py")
    assert not default.watches_file("/p/app.pyc")
    assert not default.watches_file("/p/.app.py.swp")
    assert not default.watches_file("/p/page.html")
    assert not default.watches_directory("/p/.git")
    assert not default.watches_directory("/p/__pycache__")
    assert default.watches_directory("/p/pkg")

    custom = PathFilter(includes=["*.html", ".env"], excludes=["tests", "*_pb2.py"])
    assert custom.watches_file("/p/page.html")
    assert custom.watches_file("/p/.env")  # an explicit include beats the default ".*"
    assert not custom.watches_file("/p/api_pb2.py")
    assert not custom.watches_directory("/p/tests")


def test_path_filter_as_watchfiles_filter_only_judges_below_the_root(tmp_path: Path) -> None:
    root = tmp_path / ".hidden-parent" / "project"
    path_filter = PathFilter(roots=[str(root)])
    assert path_filter(None, str(root / "app.py"))
    assert not path_filter(None, str(root / ".git" / "hooks.py"))
    assert not path_filter(None, str(root / "pkg" / "__pycache__" / "m.py"))


def test_poller_reports_edits_new_files_and_deletions_but_not_the_first_look(
        tmp_path: Path) -> None:
    make_tree(tmp_path)
    watcher = PollingWatcher([tmp_path], PathFilter(), delay=0.01, cpu_budget=0)
    assert watcher.watched_files == 2  # app.py and pkg/module.py; the rest is filtered
    assert watcher.wait(0.05) == set()

    touch(tmp_path / "pkg" / "module.py", "x = 2\n")
    assert watcher.wait(1) == {tmp_path / "pkg" / "module.py"}
    touch(tmp_path / "pkg" / "sub" / "new.py")
    assert watcher.wait(1) == {tmp_path / "pkg" / "sub" / "new.py"}
    (tmp_path / "app.py").unlink()
    assert watcher.wait(1) == {tmp_path / "app.py"}
    touch(tmp_path / ".venv" / "lib" / "dep.py", "y = 1\n")
    touch(tmp_path / "pkg" / "data.json", "{}")
    assert watcher.wait(0.1) == set()


def test_poller_spaces_full_passes_to_stay_within_its_cpu_budget(tmp_path: Path) -> None:
    for index in range(300):
        touch(tmp_path / f"d{index % 10}" / f"m{index}.py")
    watcher = PollingWatcher([tmp_path], PathFilter(), delay=0.01, cpu_budget=0.001)
    cost = watcher.last_pass_cpu
    assert cost > 0
    # A full pass costing C seconds runs at most every C / budget seconds.
    assert watcher._full_interval() == pytest.approx(max(0.01, cost / 0.001))
    passes = watcher.full_passes
    start = time.monotonic()
    watcher.wait(0.3)
    elapsed = time.monotonic() - start
    assert watcher.full_passes - passes <= elapsed / (cost / 0.001) + 1


def test_poller_notices_a_hot_file_between_full_passes(tmp_path: Path) -> None:
    for index in range(50):
        touch(tmp_path / f"m{index}.py")
    watcher = PollingWatcher([tmp_path], PathFilter(), delay=0.02, cpu_budget=1e-6)
    # Full passes are now hours apart; the recently modified files are still checked.
    assert watcher._full_interval() > 60
    touch(tmp_path / "m7.py", "x = 3\n")
    start = time.monotonic()
    assert watcher.wait(2) == {tmp_path / "m7.py"}
    assert time.monotonic() - start < 1


def test_poller_wait_returns_early_when_interrupted(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    try:
        watcher = PollingWatcher([tmp_path], PathFilter(), delay=5, interrupt_fd=read_end)
        os.write(write_end, b"\x02")
        start = time.monotonic()
        assert watcher.wait(5) == set()
        assert time.monotonic() - start < 1
    finally:
        os.close(read_end)
        os.close(write_end)


def test_create_watcher_falls_back_to_the_poller(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "watchfiles", None)
    watcher = create_watcher([str(tmp_path)])
    assert watcher.name == "StatReload"
    with pytest.raises(ImportError):
        create_watcher([str(tmp_path)], use_watchfiles=True)


def test_missing_reload_dirs_are_skipped_with_a_warning(tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    from moreweb.config import Config
    from moreweb.supervisors.reload import ChangeReload

    config = Config("app:app", reload=True, reload_dirs=[str(tmp_path / "nope"), str(tmp_path)])
    logger = logging.getLogger("moreweb.error")
    logger.addHandler(caplog.handler)  # other tests may have stopped propagation to root
    try:
        with caplog.at_level(logging.WARNING, logger="moreweb.error"):
            assert ChangeReload(config, []).directories == [str(tmp_path)]
    finally:
        logger.removeHandler(caplog.handler)
    assert "is not a directory" in caplog.text
