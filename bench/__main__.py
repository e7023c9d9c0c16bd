"""`python -m bench`: moreweb against every installed peer server, on the issue's scenarios.

Starts each server (moreweb, uvicorn with httptools and with h11, hypercorn, granian; the peers
are optional and skipped with a note when missing) on the same apps from bench/apps.py, drives
it with wrk (hey for the latency scenario), alternates servers round by round, and prints a
Markdown report of medians, ratios against uvicorn+httptools and peak RSS, which it also writes
to bench/RESULTS.md (or --output).

It must never run without wrk (it says how to install it and stops), never leave a server
running, and never write a --quick run over bench/RESULTS.md unless told to with --output.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from bench import idle, latency, report, wrk
from bench.runner import Settings, baseline_max_rate, progress, run_scenario
from bench.scenarios import SCENARIOS, ScenarioResult
from bench.servers import BASELINE, KINDS, LOOPS, ServerError, stop_all

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "RESULTS.md"


def _csv(value: str, known: dict[str, object], what: str) -> list[str]:
    keys = [k.strip() for k in value.split(",") if k.strip()]
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown {what}: {', '.join(unknown)} (choose from {', '.join(known)})")
    return keys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark moreweb against uvicorn, hypercorn and granian with wrk.",
    )
    p.add_argument("--duration", type=float, default=10.0,
                   help="seconds of load per measurement (default 10; wrk rounds to whole s)")
    p.add_argument("--warmup", type=float, default=2.0,
                   help="seconds of load before each measurement (default 2)")
    p.add_argument("--rounds", type=int, default=3,
                   help="rounds, servers alternating within each; medians reported (default 3)")
    p.add_argument("--scenarios", default=",".join(SCENARIOS),
                   type=lambda v: _csv(v, dict(SCENARIOS), "scenario"),
                   help=f"comma-separated subset of {','.join(SCENARIOS)} (default all)")
    p.add_argument("--servers", default=",".join(KINDS),
                   type=lambda v: _csv(v, dict(KINDS), "server"),
                   help=f"comma-separated subset of {','.join(KINDS)} (default all installed)")
    p.add_argument("--connections", type=int, default=64,
                   help="concurrent connections for wrk and hey (default 64)")
    p.add_argument("--idle-connections", type=int, default=10_000,
                   help="connections held open in the idle scenario (default 10000)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 1 round of 1 s, 1 s warm-up, 500 idle connections; "
                        "prints only, unless --output is given")
    p.add_argument("--output", type=Path, default=None,
                   help=f"where to write the Markdown report (default {DEFAULT_OUTPUT}, "
                        "none for --quick)")
    p.add_argument("--list", action="store_true",
                   help="list scenarios and servers (and which are installed), then exit")
    return p


def list_everything() -> None:
    print("scenarios:")
    for s in SCENARIOS.values():
        print(f"  {s.key:<13} {s.title} [target {s.target_text}]")
    print("servers:")
    for kind in KINDS.values():
        for loop in LOOPS:
            missing = kind.missing(loop)
            state = "ok" if not missing else f"missing {', '.join(missing)}"
            print(f"  {kind.label(loop):<26} {state}")
    print(f"wrk: {wrk.wrk_path() or 'NOT FOUND'}   hey: {latency.hey_path() or 'NOT FOUND'}")


def estimate_minutes(scenario_keys: list[str], server_keys: list[str],
                     settings: Settings) -> float:
    """A rough duration, so nobody starts a 25-minute run by accident."""
    seconds = 0.0
    for key in scenario_keys:
        scenario = SCENARIOS[key]
        installed = [k for k in server_keys if not KINDS[k].missing(scenario.loop)]
        per_run = 3.0 + (10.0 if scenario.tool == "idle" else settings.warmup + settings.duration)
        seconds += per_run * len(installed) * settings.rounds
    return seconds / 60


def run_all(scenario_keys: list[str], server_keys: list[str],
            settings: Settings) -> list[ScenarioResult]:
    """Every selected scenario in the issue's order; the latency one uses hello's baseline."""
    results: list[ScenarioResult] = []
    for key in scenario_keys:
        scenario = SCENARIOS[key]
        if scenario.tool != "latency":
            results.append(run_scenario(scenario, server_keys, settings))
            continue
        if latency.hey_path() is None:
            results.append(ScenarioResult(scenario, BASELINE, notes=[latency.INSTALL_HINT]))
            progress(latency.INSTALL_HINT)
            continue
        try:
            max_rate = baseline_max_rate(results, settings)
        except (ServerError, RuntimeError, ValueError, OSError) as exc:
            progress(f"[latency] skipped: {BASELINE} could not be measured: {exc}")
            results.append(ScenarioResult(scenario, BASELINE, notes=[
                f"skipped: {BASELINE}'s maximum rate could not be measured: {exc}"]))
            continue
        if max_rate is None:
            results.append(ScenarioResult(scenario, BASELINE, notes=[
                f"skipped: {BASELINE} is needed to fix the rate and is not installed"]))
            continue
        rate = max_rate / 2
        result = run_scenario(scenario, server_keys, settings, rate)
        result.notes.append(f"fixed rate {rate:,.0f} req/s = 50% of {BASELINE}'s "
                            f"{max_rate:,.0f} req/s maximum on hello")
        results.append(result)
    return results


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # Servers run in sessions of their own, so a signal to us never reaches them: unwind
    # through serve()'s finally blocks, which stop them.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    args = build_parser().parse_args(argv)
    if args.list:
        list_everything()
        return 0
    if wrk.wrk_path() is None:
        print(wrk.INSTALL_HINT, file=sys.stderr)
        return 2
    if args.quick:
        args.duration, args.warmup, args.rounds = 1.0, 1.0, 1
        if "--idle-connections" not in " ".join(argv):
            args.idle_connections = 500
    output: Path | None = args.output
    if output is None and not args.quick:
        output = DEFAULT_OUTPUT
    if args.rounds < 1 or args.duration <= 0 or args.connections < 1:
        print("--rounds, --duration and --connections must be positive", file=sys.stderr)
        return 2

    log_dir = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    settings = Settings(duration=args.duration, warmup=args.warmup, rounds=args.rounds,
                        connections=args.connections, idle_connections=args.idle_connections,
                        log_dir=log_dir)
    server_keys: list[str] = args.servers
    if BASELINE not in server_keys:
        progress(f"note: {BASELINE} is not among --servers: no ratios can be computed")

    if "idle" in args.scenarios:
        wanted = settings.idle_connections + 1024
        granted = idle.raise_nofile(wanted)
        if granted < wanted:
            settings.idle_connections = max(1, granted - 1024)
            progress(f"note: RLIMIT_NOFILE is {granted}: idle scenario reduced to "
                     f"{settings.idle_connections} connections")

    minutes = estimate_minutes(args.scenarios, server_keys, settings)
    progress(f"plan: {', '.join(args.scenarios)} on {', '.join(server_keys)}, "
             f"{settings.rounds} round(s); about {minutes:.0f} min")
    try:
        results = run_all(args.scenarios, server_keys, settings)
    finally:
        stop_all()
        if not any(log_dir.glob("*.failed")):
            shutil.rmtree(log_dir, ignore_errors=True)
    method = (f"each server started fresh per measurement, {settings.warmup:g} s warm-up, "
              f"{settings.duration:g} s measured with {settings.connections} connections "
              f"(wrk -t1), {settings.rounds} round(s) with servers alternating in a fixed "
              f"order, medians; ratios against {BASELINE} on the same event loop")
    text = report.render(results, method, args.quick, argv)
    print(text)
    if output is not None:
        output.write_text(text)
        progress(f"report written to {output}")

    if log_dir.exists():
        progress(f"logs of the servers that failed kept in {log_dir}")
    measured = any(e.runs for r in results for e in r.servers.values())
    return 0 if measured else 1


if __name__ == "__main__":
    sys.exit(main())
