"""Run scenarios: every selected server, round after round, in the same order each round.

Alternating servers round by round (A B C, A B C, ...) spreads the machine's slow moments over
all of them instead of one; each server is started fresh for each measurement, warmed up, then
measured, so nothing one run leaves behind (memory, caches, half-closed sockets) bends the next.

It must never measure a server that answered wrongly (servers.serve checks the answer first),
and never stop the whole run because one server failed: the failure becomes a note.
"""

from __future__ import annotations

import shlex
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from bench import idle, latency, wrk
from bench.scenarios import Run, Scenario, ScenarioResult, ServerResult
from bench.servers import APPS, BASELINE, KINDS, ServerError, ServerKind, serve


@dataclass
class Settings:
    duration: float = 10.0
    warmup: float = 2.0
    rounds: int = 3
    connections: int = 64
    idle_connections: int = 10_000
    idle_timeout: int = 300
    log_dir: Path | None = None


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _kinds_for(scenario: Scenario, keys: list[str]) -> tuple[list[ServerKind], list[str]]:
    kinds, notes = [], []
    for key in keys:
        missing = KINDS[key].missing(scenario.loop)
        if missing:
            notes.append(f"{KINDS[key].label(scenario.loop)} skipped: "
                         f"{', '.join(missing)} not installed")
        else:
            kinds.append(KINDS[key])
    return kinds, notes


def _measure(scenario: Scenario, kind: ServerKind, settings: Settings,
             rate: float | None) -> Run:
    idle_timeout = settings.idle_timeout if scenario.tool == "idle" else None
    with serve(kind, scenario.app, scenario.loop, idle_timeout=idle_timeout,
               log_dir=settings.log_dir) as server:
        if scenario.tool == "idle":
            r = idle.measure_idle(server, settings.idle_connections)
            per_conn = r.bytes_per_connection
            if per_conn is None:
                raise ServerError(f"no connection stayed open ({'; '.join(r.errors)})")
            detail = (f"{r.alive}/{r.requested} open, RSS {r.rss_before_kib // 1024} -> "
                      f"{r.rss_after_kib // 1024} MiB")
            return Run(per_conn, errors=r.requested - r.alive, peak_kib=r.peak_kib,
                       detail=detail)
        wrk.run_wrk(server.url, settings.warmup, settings.connections, lua=scenario.lua)
        if scenario.tool == "latency":
            assert rate is not None
            h = latency.run_hey(server.url, rate, settings.duration, settings.connections)
            if h.latency_p99_ms is None:
                raise ServerError("hey printed no p99")
            return Run(h.latency_p99_ms, h.latency_p50_ms, h.latency_p99_ms, h.errors,
                       server.memory().peak_kib,
                       f"{h.requests_per_sec:,.0f} of {rate:,.0f} req/s reached",
                       rate_reached=h.requests_per_sec)
        w = wrk.run_wrk(server.url, settings.duration, settings.connections, lua=scenario.lua)
        # With pipelining wrk times whole batches (often printing 0): no number beats a wrong one.
        p50 = w.latency_p50_ms if scenario.latency_meaningful else None
        p99 = w.latency_p99_ms if scenario.latency_meaningful else None
        return Run(w.requests_per_sec, p50, p99, w.errors, server.memory().peak_kib)


def _describe(scenario: Scenario, run: Run) -> str:
    if scenario.tool == "idle":
        return f"{run.value:,.0f} B/conn ({run.detail})"
    if scenario.tool == "latency":
        return f"p99 {run.value:.2f} ms ({run.detail}, {run.errors} errors)"
    p99 = f"{run.p99_ms:.2f} ms" if run.p99_ms is not None else "n/a"
    return f"{run.value:,.0f} req/s (p99 {p99}, {run.errors} errors)"


def load_command(scenario: Scenario, settings: Settings, rate: float | None) -> str:
    """How load was applied, as Markdown for the report (commands in code spans)."""
    url = "http://127.0.0.1:PORT/"
    if scenario.tool == "idle":
        return (f"{settings.idle_connections} connections, one `GET /` each, held open "
                f"(bench/idle.py); servers get a {settings.idle_timeout} s keep-alive timeout")
    if scenario.tool == "latency":
        argv = latency.hey_command(url, rate or 0.0, settings.duration, settings.connections)
        return (f"`{shlex.join(['hey', *argv[1:]])}` (a total of {rate or 0:,.0f} req/s, "
                f"after a {settings.warmup:g} s wrk warm-up)")
    script = Path(f"{scenario.key}.lua") if scenario.lua else None
    argv = wrk.wrk_command(url, settings.duration, settings.connections, script=script)
    return f"`{shlex.join(['wrk', *argv[1:]])}` (after a {settings.warmup:g} s warm-up)"


def run_scenario(scenario: Scenario, server_keys: list[str], settings: Settings,
                 rate: float | None = None) -> ScenarioResult:
    """Measure every installed server of `server_keys` for `settings.rounds` rounds."""
    kinds, notes = _kinds_for(scenario, server_keys)
    result = ScenarioResult(scenario, scenario.baseline, notes=notes)
    for kind in kinds:
        label = kind.label(scenario.loop)
        idle_timeout = settings.idle_timeout if scenario.tool == "idle" else None
        command = kind.command(APPS[scenario.app], "PORT", scenario.loop, idle_timeout)
        result.servers[label] = ServerResult(label, command)
    result.commands.append(load_command(scenario, settings, rate))
    for round_no in range(1, settings.rounds + 1):
        for kind in kinds:
            label = kind.label(scenario.loop)
            entry = result.servers[label]
            if entry.failure is not None:
                continue  # a server that failed once is not retried in later rounds
            try:
                run = _measure(scenario, kind, settings, rate)
            except (ServerError, RuntimeError, ValueError, OSError) as exc:
                entry.failure = f"{type(exc).__name__}: {exc}".strip()
                progress(f"[{scenario.key} {round_no}/{settings.rounds}] {label}: FAILED "
                         f"{entry.failure.splitlines()[0]}")
                continue
            entry.runs.append(run)
            progress(f"[{scenario.key} {round_no}/{settings.rounds}] {label}: "
                     f"{_describe(scenario, run)}")
    if scenario.tool == "latency" and rate:
        short = [e.label for e in result.servers.values()
                 if any((r.rate_reached or 0) < 0.9 * rate for r in e.runs)]
        if short:
            result.notes.append(
                f"the fixed rate was not reached (< 90%) for {', '.join(short)}: their p99 "
                "then also holds hey's own queueing (hey competes with the server for the "
                "same cores), so compare those rows with care")
    return result


def baseline_max_rate(results: list[ScenarioResult], settings: Settings) -> float | None:
    """uvicorn+httptools' maximum requests/s on hello: from this run, or measured now."""
    for r in results:
        if r.scenario.key == "hello" and BASELINE in r.servers:
            median = r.servers[BASELINE].median()
            if median:
                return median
    kind = KINDS[BASELINE]
    if kind.missing():
        return None
    rates = []
    for _ in range(settings.rounds):
        with serve(kind, "hello", log_dir=settings.log_dir) as server:
            wrk.run_wrk(server.url, settings.warmup, settings.connections)
            rates.append(wrk.run_wrk(server.url, settings.duration,
                                     settings.connections).requests_per_sec)
    progress(f"[latency] {BASELINE} maximum: {statistics.median(rates):,.0f} req/s")
    return statistics.median(rates)
