"""--workers: a supervisor with several worker processes, observed from outside.

Every test runs `python -m moreweb --workers N` as a real process group on 127.0.0.1 port 0,
and only uses signals and HTTP to observe it: workers answer from several pids, a killed or
hung worker is replaced, SIGHUP rolls the workers without failing a request, SIGTTIN and
SIGTTOU scale, SIGTERM/SIGINT stop everything gracefully with status 0 and no orphan, and
--limit-max-requests recycles workers.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers_server import ServerProcess, wait_for_line, write_app

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")

APP = """
import asyncio
import os
import time

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        await asyncio.sleep(1.0)
    if scope["path"] == "/hang":
        time.sleep(60)  # blocks the event loop: the worker stops sending heartbeats
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(os.getpid()).encode()})
"""

STARTED = re.compile(r"Started server process \[(\d+)\]")


@pytest.fixture
def app_dir(tmp_path: Path) -> str:
    return write_app(tmp_path, "workers_app", APP)


def start(app_dir: str, *options: str) -> ServerProcess:
    return ServerProcess(["workers_app:app", "--app-dir", app_dir, "--port", "0",
                          "--no-access-log", "--lifespan", "off", *options])


def get(port: int, path: str = "/", timeout: float = 5.0) -> int:
    """One request on a fresh connection; returns the pid that answered."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        response = conn.getresponse()
        assert response.status == 200
        return int(response.read())
    finally:
        conn.close()


def started_pids(server: ServerProcess) -> list[int]:
    return [int(m.group(1)) for line in server.stderr.lines if (m := STARTED.search(line))]


def wait_for_workers(server: ServerProcess, count: int, timeout: float = 15.0) -> list[int]:
    """Wait until `count` workers have logged that they listen; return the logged pids."""
    wait_for_line(server, r"moreweb running on", count, timeout)
    return started_pids(server)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def pids_answering(port: int, want: int, attempts: int = 20) -> set[int]:
    """Concurrent slow requests, so that several workers must answer."""
    seen: set[int] = set()
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(attempts):
            seen.update(pool.map(lambda _: get(port, "/slow"), range(8)))
            if len(seen) >= want:
                break
    return seen


@pytest.fixture
def two_workers(app_dir: str) -> Iterator[ServerProcess]:
    with start(app_dir, "--workers", "2") as server:
        wait_for_workers(server, 2)
        yield server


def test_workers_answer_from_several_pids_and_a_killed_worker_is_replaced(
        two_workers: ServerProcess) -> None:
    server = two_workers
    workers = set(started_pids(server))
    assert len(workers) == 2 and server.proc is not None
    assert server.proc.pid not in workers  # the supervisor serves nothing itself
    assert pids_answering(server.port, 2) == workers

    victim = sorted(workers)[0]
    os.kill(victim, signal.SIGKILL)
    wait_for_line(server, rf"Worker \[{victim}\] died \(signal 9\)")
    wait_for_workers(server, 3)
    now = set(started_pids(server)) - {victim}
    assert len(now) == 2
    assert pids_answering(server.port, 2) == now


def test_sigterm_drains_every_worker_and_exits_0_without_orphans(
        two_workers: ServerProcess) -> None:
    server = two_workers
    workers = started_pids(server)
    with ThreadPoolExecutor(max_workers=2) as pool:
        slow = pool.submit(get, server.port, "/slow")
        time.sleep(0.3)  # the request is in flight
        server.send_signal(signal.SIGTERM)
        assert slow.result(timeout=10) in workers  # finished, not cut off
    assert server.wait(timeout=15) == 0
    assert not [pid for pid in workers if alive(pid)]


def test_sigterm_to_every_process_at_once_is_still_graceful(
        two_workers: ServerProcess) -> None:
    # systemd's default KillMode signals the whole cgroup: each worker gets the SIGTERM
    # directly and once more through the supervisor. That is one stop, not "stop now".
    server = two_workers
    workers = started_pids(server)
    with ThreadPoolExecutor(max_workers=2) as pool:
        slow = [pool.submit(get, server.port, "/slow") for _ in range(2)]
        time.sleep(0.3)
        assert server.proc is not None
        for pid in [server.proc.pid, *workers]:
            os.kill(pid, signal.SIGTERM)
        for future in slow:
            assert future.result(timeout=10) in workers
    assert server.wait(timeout=15) == 0


def test_sigint_is_a_graceful_stop_too(two_workers: ServerProcess) -> None:
    server = two_workers
    workers = started_pids(server)
    server.send_signal(signal.SIGINT)
    assert server.wait(timeout=15) == 0
    assert not [pid for pid in workers if alive(pid)]
    assert server.stderr_text.count("Finished server process") == 2


def test_supervisor_killed_hard_leaves_no_worker_behind(two_workers: ServerProcess) -> None:
    server = two_workers
    workers = started_pids(server)
    server.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if alive(pid)]


class Client(threading.Thread):
    """Sends requests back to back until stopped; counts answers and failures."""

    def __init__(self, port: int, keep_alive: bool) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.keep_alive = keep_alive
        self.stop = threading.Event()
        self.pids: list[int] = []
        self.failures: list[str] = []

    def run(self) -> None:
        conn: http.client.HTTPConnection | None = None
        deadline = time.monotonic() + 30  # never outlives a broken test
        while not self.stop.is_set() and time.monotonic() < deadline:
            if not self.keep_alive:
                try:
                    self.pids.append(get(self.port))
                except Exception as exc:
                    self.failures.append(repr(exc))
                continue
            for attempt in (1, 2):
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                try:
                    conn.request("GET", "/")
                    response = conn.getresponse()
                    self.pids.append(int(response.read()))
                    if response.will_close:
                        conn.close()
                        conn = None
                    break
                except (http.client.RemoteDisconnected, ConnectionResetError,
                        BrokenPipeError) as exc:
                    # RFC 9112 section 9.3.1: an idle keep-alive connection may be closed by
                    # the server at any time; a client retries an idempotent request once.
                    conn.close()
                    conn = None
                    if attempt == 2:
                        self.failures.append(repr(exc))
                except Exception as exc:
                    self.failures.append(repr(exc))
                    conn.close()
                    conn = None
                    break
        if conn is not None:
            conn.close()


def test_sighup_rolls_every_worker_while_clients_keep_sending(
        two_workers: ServerProcess) -> None:
    server = two_workers
    old = set(started_pids(server))
    clients = [Client(server.port, keep_alive=False), Client(server.port, keep_alive=True)]
    for client in clients:
        client.start()
    try:
        time.sleep(0.3)
        server.send_signal(signal.SIGHUP)
        wait_for_line(server, r"Rolling restart complete")
        for pid in old:
            wait_for_line(server, rf"Worker \[{pid}\] stopped")
        time.sleep(0.3)
    finally:
        for client in clients:
            client.stop.set()
        for client in clients:
            client.join(timeout=10)
    new = set(started_pids(server)) - old
    assert len(new) == 2
    for client in clients:
        assert client.failures == []
        assert len(client.pids) > 10
        assert set(client.pids[-3:]) <= new  # the last answers come from new workers
    assert not [pid for pid in old if alive(pid)]


def test_sigttin_adds_a_worker_and_sigttou_removes_one(two_workers: ServerProcess) -> None:
    server = two_workers
    server.send_signal(signal.SIGTTIN)
    wait_for_line(server, r"SIGTTIN: increasing to 3 workers")
    pids = wait_for_workers(server, 3)
    assert pids_answering(server.port, 3) == set(pids)
    server.send_signal(signal.SIGTTOU)
    wait_for_line(server, r"SIGTTOU: decreasing to 2 workers")
    wait_for_line(server, r"Worker \[\d+\] stopped")
    assert len([pid for pid in pids if alive(pid)]) == 2


def test_limit_max_requests_recycles_workers(app_dir: str) -> None:
    with start(app_dir, "--workers", "2", "--limit-max-requests", "2",
               "--limit-max-requests-jitter", "1") as server:
        wait_for_workers(server, 2)
        answered = []
        for _ in range(12):
            answered.append(get(server.port))  # every request is answered, none dropped
            time.sleep(0.12)  # the server checks its limit on each 0.1 s tick
        wait_for_line(server, r"Maximum request limit of [23] exceeded")
        wait_for_line(server, r"Worker \[\d+\] exited; starting a replacement")
        # 12 requests, each worker leaving after 2 or 3 (plus at most one that arrived
        # before its tick): the first two workers alone cannot have served them all.
        assert len(set(answered)) >= 3
        assert len(set(started_pids(server))) >= 3


def test_a_hung_worker_is_killed_and_replaced(app_dir: str) -> None:
    with start(app_dir, "--workers", "2", "--timeout-worker-healthcheck", "1.5") as server:
        workers = wait_for_workers(server, 2)
        with ThreadPoolExecutor(max_workers=1) as pool:
            hung = pool.submit(get, server.port, "/hang", 10.0)
            wait_for_line(server, r"sent no heartbeat for \d+s; killing it", timeout=10)
            with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
                hung.result(timeout=10)
        wait_for_line(server, r"Hung worker \[\d+\] killed; starting a replacement")
        wait_for_workers(server, 3)
        assert len([pid for pid in workers if alive(pid)]) == 1


def test_a_worker_that_cannot_load_the_app_stops_the_supervisor(tmp_path: Path) -> None:
    write_app(tmp_path, "broken_app", "raise RuntimeError('boom')\n")
    with ServerProcess(["broken_app:app", "--app-dir", str(tmp_path), "--port", "0",
                        "--workers", "2"], wait_started=False) as server:
        assert server.wait(timeout=15) == 1
        assert "RuntimeError: boom" in server.stderr_text
        assert "failed to start (exit code 1); stopping" in server.stderr_text


def test_web_concurrency_sets_the_worker_count(app_dir: str) -> None:
    with ServerProcess(["workers_app:app", "--app-dir", app_dir, "--port", "0",
                        "--lifespan", "off"], env={"WEB_CONCURRENCY": "3"}) as server:
        assert len(set(wait_for_workers(server, 3))) == 3


def test_workers_share_a_unix_socket(app_dir: str, tmp_path: Path) -> None:
    path = str(tmp_path / "w.sock")
    with start(app_dir, "--workers", "2", "--uds", path) as server:
        wait_for_workers(server, 2)
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(path)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=15) == 0
    assert not os.path.exists(path)  # the supervisor removed the socket file it created
