"""`python -m bench.ws_echo`: WebSocket echo, moreweb against uvicorn's WebSocket protocols.

Every server runs the echo `app` below as a subprocess on a free loopback port: moreweb, and
uvicorn with `--ws websockets` (its default) and `--ws wsproto` when those are installed. A
client process of its own (so it never shares the server's event loop, and with 2 cores each
gets one) drives N concurrent connections, each with one message in flight, and reports:

- small: 32-byte text messages, round trips per second (the latency-bound chat case);
- big: 1 MiB binary messages, echoed MiB per second (the framing/masking-bound case).

Servers alternate round by round and the report is a Markdown table of medians with ratios
against uvicorn's default (`uvicorn-websockets`), plus each side's CPU use: a client near 100%
CPU means the client, not the server, set the pace.

The default client is a lean asyncio protocol with pre-built frames, so the client costs far
less per message than any server; `--client websockets` uses the `websockets` library instead
(and `--compression deflate` makes it offer permessage-deflate).

It must never leave a process behind, never make a peer server a dependency (missing ones are
skipped with a note), and never run unbounded: each measurement has a duration, each wait a
timeout. Don't run it long on a shared machine: `--quick` is a 1-round smoke run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import importlib.util
import json
import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
APP = "bench.ws_echo:app"
SMALL_PAYLOAD = b"0123456789abcdef0123456789abcdef"  # 32 bytes of text
BIG_SIZE = 1024 * 1024
_MASK = b"\x5a\xc3\x3c\xa5"


# --- the app every server runs ------------------------------------------------------------------


async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    """Echo every WebSocket message with its type; lifespan is answered, HTTP gets 404."""
    kind = scope["type"]
    if kind == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            text = message.get("text")
            if text is not None:
                await send({"type": "websocket.send", "text": text})
            else:
                await send({"type": "websocket.send", "bytes": message["bytes"]})
    elif kind == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    elif kind == "http":
        await send({"type": "http.response.start", "status": 404,
                    "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})


# --- frames (client side) ------------------------------------------------------------------------


def _mask(payload: bytes, key: bytes = _MASK) -> bytes:
    if not payload:
        return b""
    whole = (key * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(whole, "little")).to_bytes(
        len(payload), "little")


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked, final frame (RFC 6455 §5.2); built once and reused by the lean client."""
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    return head + _MASK + _mask(payload)


def handshake_request(port: int) -> bytes:
    key = base64.b64encode(os.urandom(16))
    return (b"GET / HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
            % (HOST.encode(), port, key))


# --- servers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WsServer:
    key: str
    requires: tuple[str, ...]

    def missing(self, loop: str) -> list[str]:
        needed = [*self.requires, *(("uvloop",) if loop == "uvloop" else ())]
        return [m for m in needed if importlib.util.find_spec(m) is None]

    def command(self, port: int, loop: str) -> list[str]:
        py = sys.executable
        if self.key == "moreweb":
            return [py, "-m", "moreweb", APP, "--host", HOST, "--port", str(port),
                    "--loop", loop, "--lifespan", "off", "--no-access-log",
                    "--log-level", "warning"]
        ws = self.key.split("-", 1)[1]
        return [py, "-m", "uvicorn", APP, "--host", HOST, "--port", str(port), "--loop", loop,
                "--ws", ws, "--lifespan", "off", "--no-access-log", "--log-level", "warning"]


SERVERS = {s.key: s for s in (
    WsServer("moreweb", ("moreweb",)),
    WsServer("uvicorn-websockets", ("uvicorn", "websockets")),
    WsServer("uvicorn-wsproto", ("uvicorn", "wsproto")),
    WsServer("uvicorn-websockets-sansio", ("uvicorn", "websockets")),
)}
DEFAULT_SERVERS = ("moreweb", "uvicorn-websockets", "uvicorn-wsproto")
BASELINE = "uvicorn-websockets"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def check_echo(port: int, timeout: float = 5.0) -> str | None:
    """One handshake and one echoed message; None when right, else what was wrong."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(handshake_request(port))
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    return "closed during the handshake"
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 101"):
                return f"handshake answered {head.splitlines()[0]!r}"
            sock.sendall(client_frame(0x1, SMALL_PAYLOAD))
            while len(rest) < 2 + len(SMALL_PAYLOAD):
                chunk = sock.recv(4096)
                if not chunk:
                    return "closed before echoing"
                rest += chunk
            if rest[:2] != bytes([0x81, len(SMALL_PAYLOAD)]) or rest[2:34] != SMALL_PAYLOAD:
                return f"echo was {rest[:40]!r}"
            sock.sendall(client_frame(0x8, struct.pack("!H", 1000)))
            return None
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"


@contextlib.contextmanager
def running(server: WsServer, loop: str, startup_timeout: float = 30.0
            ) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """Run `server` until the block exits; kills its whole session whatever happens."""
    port = free_port()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    for name in ("WEB_CONCURRENCY", "PYTHONASYNCIODEBUG", "PYTHONDEVMODE"):
        env.pop(name, None)
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    process = subprocess.Popen(server.command(port, loop), cwd=REPO_ROOT, env=env,
                               stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + startup_timeout
        problem: str | None = "never listened"
        while time.monotonic() < deadline and process.poll() is None:
            problem = check_echo(port)
            if problem is None:
                break
            time.sleep(0.1)
        if problem is not None:
            log.seek(0)
            tail = log.read().decode(errors="replace").strip().splitlines()[-5:]
            raise RuntimeError(f"{server.key} is not echoing ({problem}):\n" + "\n".join(tail))
        yield port, process
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        log.close()


# --- the client process --------------------------------------------------------------------------


class Tally:
    """Messages and bytes echoed inside the measured window."""

    def __init__(self) -> None:
        self.counting = False
        self.stopping = False
        self.messages = 0
        self.bytes = 0


class LeanClient(asyncio.Protocol):
    """One connection that keeps one pre-built message in flight and counts the echoes.

    It parses just enough of the server's frames (unmasked; pings answered) to find where each
    echoed message ends, without copying payloads.
    """

    def __init__(self, request: bytes, frame: bytes, size: int, tally: Tally,
                 opened: asyncio.Future[None]) -> None:
        self.request = request
        self.frame = frame
        self.size = size
        self.tally = tally
        self.opened = opened
        self.transport: asyncio.Transport | None = None
        self.handshaking = True
        self.buffer = bytearray()
        self.skip = 0  # payload bytes of the current frame still to come
        self.skip_fin = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # No isinstance check: uvloop's transports do not subclass asyncio.Transport.
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed during the handshake"))
        elif not self.tally.stopping:
            print("warning: the server closed a benchmark connection", file=sys.stderr)

    def data_received(self, data: bytes) -> None:
        if self.handshaking:
            self.buffer += data
            end = self.buffer.find(b"\r\n\r\n")
            if end == -1:
                return
            if not self.buffer.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(ConnectionError(bytes(self.buffer[:40]).decode()))
                return
            del self.buffer[: end + 4]
            self.handshaking = False
            self.opened.set_result(None)
            data, self.buffer = bytes(self.buffer), bytearray()
            if not data:
                return
        self._frames(data)

    def send_next(self) -> None:
        if not self.tally.stopping and self.transport is not None:
            self.transport.write(self.frame)

    def _frames(self, data: bytes) -> None:
        view = memoryview(data)
        position = 0
        if self.skip:
            take = min(self.skip, len(view))
            self.skip -= take
            position = take
            if not self.skip and self.skip_fin:
                self._echoed()
        if position < len(view):
            self.buffer += view[position:]
        buffer = self.buffer
        while len(buffer) >= 2:
            first, second = buffer[0], buffer[1]
            length = second & 0x7F
            offset = 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length = int.from_bytes(buffer[2:4], "big")
                offset = 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length = int.from_bytes(buffer[2:10], "big")
                offset = 10
            opcode = first & 0x0F
            fin = bool(first & 0x80)
            if opcode >= 0x8:  # control frames are small: wait for all of it
                if len(buffer) < offset + length:
                    return
                payload = bytes(buffer[offset:offset + length])
                del buffer[:offset + length]
                if opcode == 0x9 and self.transport is not None:
                    self.transport.write(client_frame(0xA, payload))
                continue
            available = len(buffer) - offset
            if available >= length:
                del buffer[:offset + length]
                if fin:
                    self._echoed()
            else:
                self.skip = length - available
                self.skip_fin = fin
                buffer.clear()
                return

    def _echoed(self) -> None:
        tally = self.tally
        if tally.counting:
            tally.messages += 1
            tally.bytes += self.size
        self.send_next()


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0


async def _lean(port: int, connections: int, frame: bytes, size: int, tally: Tally
                ) -> list[LeanClient]:
    loop = asyncio.get_running_loop()
    clients = []
    for _ in range(connections):
        opened: asyncio.Future[None] = loop.create_future()
        client = LeanClient(handshake_request(port), frame, size, tally, opened)
        await loop.create_connection(lambda c=client: c, HOST, port)  # type: ignore[misc]
        await asyncio.wait_for(opened, 10)
        clients.append(client)
    for client in clients:
        client.send_next()
    return clients


async def _websockets_client(port: int, connections: int, payload: str | bytes, size: int,
                             tally: Tally, compression: str | None) -> list[asyncio.Task[None]]:
    from websockets.asyncio.client import connect

    async def one(ws: Any) -> None:
        while not tally.stopping:
            await ws.send(payload)
            await ws.recv()
            if tally.counting:
                tally.messages += 1
                tally.bytes += size
        await ws.close()

    sockets = [await connect(f"ws://{HOST}:{port}/", compression=compression, max_size=None,
                             ping_interval=None, open_timeout=10) for _ in range(connections)]
    return [asyncio.get_running_loop().create_task(one(ws)) for ws in sockets]


async def drive(args: argparse.Namespace) -> dict[str, float]:
    tally = Tally()
    small = args.mode == "small"
    size = len(SMALL_PAYLOAD) if small else BIG_SIZE
    payload: str | bytes = SMALL_PAYLOAD.decode() if small else os.urandom(BIG_SIZE)
    if args.client == "lean":
        frame = client_frame(0x1 if small else 0x2,
                             payload.encode() if isinstance(payload, str) else payload)
        clients = await _lean(args.port, args.connections, frame, size, tally)
        tasks: list[asyncio.Task[None]] = []
    else:
        clients = []
        tasks = await _websockets_client(args.port, args.connections, payload, size, tally,
                                         args.compression)
    await asyncio.sleep(max(0.0, args.start_at - time.time()) + args.warmup)
    server_ticks, started_cpu = _cpu_ticks(args.server_pid), time.process_time()
    started = time.perf_counter()
    tally.counting = True
    await asyncio.sleep(args.duration)
    tally.counting = False
    elapsed = time.perf_counter() - started
    client_cpu = (time.process_time() - started_cpu) / elapsed
    server_cpu = (_cpu_ticks(args.server_pid) - server_ticks) / os.sysconf("SC_CLK_TCK") / elapsed
    tally.stopping = True
    for client in clients:
        if client.transport is not None:
            client.transport.abort()
    if tasks:
        await asyncio.wait(tasks, timeout=5)
    return {"messages": tally.messages, "bytes": tally.bytes, "seconds": elapsed,
            "client_cpu": client_cpu, "server_cpu": server_cpu}


def client_main(args: argparse.Namespace) -> None:
    if args.client_loop == "uvloop" and importlib.util.find_spec("uvloop") is not None:
        import uvloop

        result = uvloop.run(drive(args))
    else:
        result = asyncio.run(drive(args))
    print(json.dumps(result))


# --- orchestration -------------------------------------------------------------------------------


@dataclass
class Measure:
    rate: float  # messages/s (small) or MiB/s (big)
    client_cpu: float
    server_cpu: float
    small: bool = True

    @property
    def server_cost(self) -> float:
        """Server CPU per unit of work: microseconds per round trip, or ms per MiB."""
        if not self.rate:
            return 0.0
        return self.server_cpu / self.rate * (1e6 if self.small else 1e3)


def measure(args: argparse.Namespace, port: int, pid: int, mode: str,
            start_budget: float = 1.0) -> Measure:
    """Run the client processes against one server; sum what they counted."""
    connections = args.connections if mode == "small" else args.big_connections
    procs = max(1, min(args.client_procs, connections))
    # One shared clock: every client process counts over the same window.
    start_at = time.time() + start_budget
    processes = []
    for index in range(procs):
        share = connections // procs + (index < connections % procs)
        argv = [sys.executable, "-m", "bench.ws_echo", "--run-client", mode,
                "--port", str(port), "--server-pid", str(pid if index == 0 else 0),
                "--connections", str(share), "--duration", str(args.duration),
                "--warmup", str(args.warmup), "--start-at", repr(start_at),
                "--client", args.client, "--client-loop", args.client_loop]
        if args.compression:
            argv += ["--compression", args.compression]
        processes.append(subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))
    results = []
    try:
        for process in processes:
            out, err = process.communicate(timeout=args.duration + args.warmup + 60)
            if process.returncode != 0:
                raise RuntimeError(f"client failed: {err.strip()[-500:]}")
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=5)
    seconds = results[0]["seconds"]
    rate = sum(r["messages"] for r in results) / seconds
    if mode == "big":
        rate = sum(r["bytes"] for r in results) / seconds / (1024 * 1024)
    return Measure(rate, sum(r["client_cpu"] for r in results), results[0]["server_cpu"],
                   small=mode == "small")


def warm_up(args: argparse.Namespace, port: int, pid: int) -> None:
    """A discarded run, connections opened and closed, before anything is measured.

    A fresh CPython server on glibc is about twice as slow per small message until its malloc
    has freed one large mmapped block: until then each 256 KiB `sock.recv` buffer that asyncio
    allocates is an mmap + mremap + munmap with page faults (glibc raises its mmap threshold
    only when such a block is freed whole). moreweb reads into a reused buffer and never pays
    this; closing the warm-up connections ends it for the others, so the table compares
    steady states.
    """
    warm = argparse.Namespace(**vars(args))
    warm.duration, warm.warmup, warm.client_procs = args.server_warmup, 0.0, 1
    measure(warm, port, pid, "small", start_budget=0.2)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def report(results: dict[str, dict[str, list[Measure]]], args: argparse.Namespace,
           notes: list[str]) -> str:
    base = results.get(BASELINE)

    def ratio(key: str, mode: str) -> str:
        if base is None or not base[mode] or not results[key][mode]:
            return "-"
        reference = _median([m.rate for m in base[mode]])
        return f"{_median([m.rate for m in results[key][mode]]) / reference:.2f}x"

    lines = [
        "## WebSocket echo",
        "",
        f"{args.rounds} round(s), {args.duration:g} s each after {args.warmup:g} s warm-up "
        f"(and {args.server_warmup:g} s of discarded traffic per fresh server); "
        f"client: {args.client} ({args.client_loop}, {args.client_procs} processes), "
        f"small: {args.connections} connections x "
        f"{len(SMALL_PAYLOAD)}-byte text, big: {args.big_connections} connections x 1 MiB "
        f"binary; server loop: {args.loop}; compression: {args.compression or 'off'}. "
        f"Medians; ratios against {BASELINE}. CPU is the share of one core; the cost "
        "columns (server CPU per message or per MiB) do not depend on how busy the client "
        "or the machine kept the server.",
        "",
        "| server | small: round trips/s | vs uvicorn | server CPU | server µs/msg "
        "| client CPU | 1 MiB: MiB/s | vs uvicorn | server CPU | server ms/MiB | client CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, modes in results.items():
        cells = [key]
        for mode in ("small", "big"):
            got = modes[mode]
            if not got:
                cells += ["-"] * 5
                continue
            rate = _median([m.rate for m in got])
            cells += [f"{rate:,.0f}" if mode == "small" else f"{rate:,.1f}", ratio(key, mode),
                      f"{_median([m.server_cpu for m in got]):.0%}",
                      f"{_median([m.server_cost for m in got]):.1f}",
                      f"{_median([m.client_cpu for m in got]):.0%}"]
        lines.append("| " + " | ".join(cells) + " |")
    if notes:
        lines += ["", *[f"- {note}" for note in notes]]
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.ws_echo", description=__doc__.split("\n")[0])
    p.add_argument("--servers", default=",".join(DEFAULT_SERVERS),
                   help=f"comma-separated subset of {','.join(SERVERS)}")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=5.0, help="measured seconds per run")
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--connections", type=int, default=32, help="connections, small messages")
    p.add_argument("--big-connections", type=int, default=4, help="connections, 1 MiB messages")
    p.add_argument("--modes", default="small,big", help="small, big or both")
    p.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio",
                   help="the servers' event loop")
    p.add_argument("--client", choices=("lean", "websockets"), default="lean")
    p.add_argument("--client-procs", type=int, default=2,
                   help="client processes sharing the connections (default 2: while the "
                   "server answers one, the other reads its echoes)")
    p.add_argument("--client-loop", choices=("asyncio", "uvloop"), default="uvloop",
                   help="the client's event loop (uvloop when installed)")
    p.add_argument("--compression", choices=("deflate",), default=None,
                   help="offer permessage-deflate (needs --client websockets)")
    p.add_argument("--server-warmup", type=float, default=1.0,
                   help="seconds of discarded traffic on each fresh server (default 1; 0: none)")
    p.add_argument("--quick", action="store_true", help="smoke run: 1 round of 2 s")
    p.add_argument("--output", type=Path, help="also write the Markdown report here")
    # Internal: run one measurement as the client process.
    p.add_argument("--run-client", choices=("small", "big"), dest="mode",
                   help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--server-pid", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.mode:
        client_main(args)
        return 0
    if args.compression and args.client != "websockets":
        print("--compression needs --client websockets", file=sys.stderr)
        return 2
    if args.quick:
        args.rounds, args.duration, args.warmup = 1, 2.0, 0.5
    modes = [m for m in args.modes.split(",") if m in ("small", "big")]
    notes: list[str] = []
    chosen = []
    for key in (k.strip() for k in args.servers.split(",") if k.strip()):
        server = SERVERS.get(key)
        if server is None:
            print(f"unknown server {key!r}; choose from {', '.join(SERVERS)}", file=sys.stderr)
            return 2
        missing = server.missing(args.loop)
        if missing:
            notes.append(f"{key} skipped: {', '.join(missing)} not installed")
        else:
            chosen.append(server)
    results: dict[str, dict[str, list[Measure]]] = {
        s.key: {"small": [], "big": []} for s in chosen}
    for round_number in range(args.rounds):
        # Alternate the order so no server always runs first on a cold (or hot) machine.
        order = chosen[round_number % len(chosen):] + chosen[:round_number % len(chosen)]
        for server in order:
            try:
                with running(server, args.loop) as (port, process):
                    if args.server_warmup:
                        warm_up(args, port, process.pid)
                    for mode in modes:
                        got = measure(args, port, process.pid, mode)
                        results[server.key][mode].append(got)
                        print(f"round {round_number + 1}: {server.key} {mode}: {got.rate:,.1f}"
                              f" (server CPU {got.server_cpu:.0%}, client {got.client_cpu:.0%})",
                              file=sys.stderr)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                notes.append(f"{server.key} round {round_number + 1} failed: {exc}")
                print(f"{server.key}: {exc}", file=sys.stderr)
    text = report(results, args, notes)
    print(text)
    if args.output:
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
