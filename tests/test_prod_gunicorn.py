"""gunicorn with `-k moreweb.workers.MorewebWorker`: serving, signals, settings carried over.

gunicorn is an optional extra: the whole module is skipped when it is not installed. Each
test runs a real `python -m gunicorn` on 127.0.0.1 port 0.
"""

from __future__ import annotations

import http.client
import json
import re
import shlex
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers_server import _LineReader, stop_process, subprocess_env, write_app

gunicorn = pytest.importorskip("gunicorn")

APP = """
import asyncio
import json
import os

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if os.environ.get("FAIL_STARTUP"):
                    await send({"type": "lifespan.startup.failed", "message": "no db"})
                    return
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["path"] == "/slow":
        await asyncio.sleep(1.0)
    body = json.dumps({"pid": os.getpid(), "scheme": scope["scheme"],
                       "client": scope["client"],
                       "tls": "tls" in scope["extensions"]}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})
"""

LISTENING = re.compile(r"Listening at: https?://127\.0\.0\.1:(\d+)")


def _control_socket_flags() -> list[str]:
    from gunicorn.config import KNOWN_SETTINGS

    names = {setting.name for setting in KNOWN_SETTINGS}
    return ["--no-control-socket"] if "control_socket_disable" in names else []


class Gunicorn:
    def __init__(self, proc: subprocess.Popen[str], reader: _LineReader) -> None:
        self.proc = proc
        self.reader = reader
        self.port = 0

    @property
    def log(self) -> str:
        return "\n".join(self.reader.lines)

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 15.0) -> None:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(1 for line in list(self.reader.lines) if regex.search(line)) >= count:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{count} x {pattern!r} not logged:\n{self.log}")

    def worker_pids(self) -> list[int]:
        return [int(m.group(1)) for line in self.reader.lines
                if (m := re.search(r"Booting worker with pid: (\d+)", line))]


@contextmanager
def gunicorn_running(app_dir: str, *options: str, env: dict[str, str] | None = None,
                     wait: bool = True, command: list[str] | None = None) -> Iterator[Gunicorn]:
    if command is None:
        command = ["-k", "moreweb.workers.MorewebWorker", "-b", "127.0.0.1:0", *options,
                   "gunicorn_app:app"]
    command = [sys.executable, "-m", "gunicorn", "--chdir", app_dir, *_control_socket_flags(),
               *command]
    proc = subprocess.Popen(command, env=subprocess_env(env), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    reader = _LineReader(proc.stderr)
    reader.start()
    running = Gunicorn(proc, reader)
    try:
        if wait:
            match = reader.wait_for(LISTENING, 15)
            assert match is not None, running.log
            running.port = int(match.group(1))
            running.wait_for(r"moreweb running on")
        yield running
    finally:
        stop_process(proc, [reader], grace=15)


def get(port: int, path: str = "/", context: ssl.SSLContext | None = None,
        headers: dict[str, str] | None = None) -> dict[str, object]:
    conn: http.client.HTTPConnection
    if context is not None:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Connection": "close", **(headers or {})})
        response = conn.getresponse()
        assert response.status == 200
        result: dict[str, object] = json.loads(response.read())
        return result
    finally:
        conn.close()


@pytest.fixture
def app_dir(tmp_path: Path) -> str:
    return write_app(tmp_path, "gunicorn_app", APP)


def test_workers_serve_and_the_access_log_goes_to_gunicorn(app_dir: str,
                                                           tmp_path: Path) -> None:
    access_log = tmp_path / "access.log"
    with gunicorn_running(app_dir, "-w", "2", "--access-logfile", str(access_log)) as server:
        server.wait_for(r"moreweb running on", count=2)
        pids = set(server.worker_pids())
        seen: set[int] = set()
        with ThreadPoolExecutor(max_workers=6) as pool:
            for _ in range(10):
                seen.update(int(r["pid"]) for r in pool.map(  # type: ignore[call-overload]
                    lambda _: get(server.port, "/slow"), range(6)))
                if seen == pids:
                    break
        assert seen == pids and len(pids) == 2
        deadline = time.monotonic() + 5
        while '"GET /slow HTTP/1.1" 200' not in access_log.read_text():
            assert time.monotonic() < deadline, access_log.read_text()
            time.sleep(0.05)


def test_sigterm_is_graceful(app_dir: str) -> None:
    with gunicorn_running(app_dir, "-w", "1", "--graceful-timeout", "10") as server:
        with ThreadPoolExecutor(max_workers=1) as pool:
            slow = pool.submit(get, server.port, "/slow")
            time.sleep(0.3)
            server.proc.send_signal(signal.SIGTERM)
            assert slow.result(timeout=10)["scheme"] == "http"
        assert server.proc.wait(timeout=15) == 0
        assert "Waiting for application shutdown" in server.log


def test_sighup_replaces_the_workers(app_dir: str) -> None:
    with gunicorn_running(app_dir, "-w", "1") as server:
        first = get(server.port)["pid"]
        server.proc.send_signal(signal.SIGHUP)
        server.wait_for(r"moreweb running on", count=2)
        deadline = time.monotonic() + 10
        while get(server.port)["pid"] == first:
            assert time.monotonic() < deadline, server.log
            time.sleep(0.1)


def test_max_requests_recycles_the_worker(app_dir: str) -> None:
    with gunicorn_running(app_dir, "-w", "1", "--max-requests", "2") as server:
        pids = set()
        for _ in range(6):
            pids.add(get(server.port)["pid"])
            time.sleep(0.15)
        server.wait_for(r"Maximum request limit of 2 exceeded")
        assert len(pids) >= 2


def test_forwarded_allow_ips_is_carried_over(app_dir: str) -> None:
    headers = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    with gunicorn_running(app_dir, "-w", "1") as server:  # gunicorn's default trusts loopback
        data = get(server.port, headers=headers)
        assert data["client"] == ["203.0.113.9", 0] and data["scheme"] == "https"
    with gunicorn_running(app_dir, "-w", "1", "--forwarded-allow-ips", "10.9.9.9") as server:
        data = get(server.port, headers=headers)
        assert data["client"][0] == "127.0.0.1"  # type: ignore[index]
        assert data["scheme"] == "http"


def test_tls_settings_are_carried_over(app_dir: str, tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    with gunicorn_running(app_dir, "-w", "1", "--certfile", str(certfile),
                          "--keyfile", str(keyfile)) as server:
        context = ssl.create_default_context()
        ca.configure_trust(context)
        data = get(server.port, context=context)
        assert data["scheme"] == "https" and data["tls"] is True


def test_a_worker_that_fails_lifespan_startup_stops_gunicorn(app_dir: str) -> None:
    with gunicorn_running(app_dir, "-w", "1", env={"FAIL_STARTUP": "1"}, wait=False
                          ) as server:
        code = server.proc.wait(timeout=20)
        assert code != 0
        assert "Worker failed to boot" in server.log


def test_the_documented_gunicorn_command_runs(app_dir: str) -> None:
    # docs/deployment.md's command line, with the app and the address swapped.
    docs = Path(__file__).resolve().parent.parent / "docs" / "deployment.md"
    text = docs.read_text()
    marker = text.index("<!-- test: gunicorn -->")
    start = text.index("\n", text.index("```", marker)) + 1
    program, *arguments = shlex.split(text[start:text.index("```", start)])
    assert program == "gunicorn"
    arguments = ["gunicorn_app:app" if arg == "app:app" else arg for arg in arguments]
    arguments[arguments.index("--bind") + 1] = "127.0.0.1:0"
    with gunicorn_running(app_dir, command=arguments) as server:
        workers = int(arguments[arguments.index("--workers") + 1])
        server.wait_for(r"moreweb running on", count=workers)
        assert get(server.port)["scheme"] == "http"
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=20) == 0
