"""Render benchmark results as Markdown: targets, one table per scenario, machine, commands.

The report says everything needed to reproduce or doubt a number: date, machine, versions of
every server and tool, each server's exact command line, the load generator's command and Lua
scripts, every round's value next to the median, errors and peak memory.

It must never measure anything, and never present a quick run as a result: a quick run's
report says so in its first lines.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

from bench.scenarios import Scenario, ScenarioResult, ServerResult
from bench.servers import APPS, REPO_ROOT

PACKAGES = ("moreweb", "uvicorn", "httptools", "h11", "hypercorn", "granian", "uvloop",
            "starlette")


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        if package == "moreweb":
            sys.path.insert(0, str(REPO_ROOT))
            try:
                import moreweb

                return f"{moreweb.__version__} (source tree)"
            except ImportError:
                pass
        return "not installed"


def _tool_version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    text = (done.stdout + done.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return "? GiB"


def _git_revision() -> str:
    try:
        done = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() or "unknown"


def machine_lines() -> list[str]:
    versions = ", ".join(f"{p} {_version(p)}" for p in PACKAGES)
    return [
        f"- Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"moreweb revision {_git_revision()}",
        f"- Machine: {platform.system()} {platform.release()} {platform.machine()}, "
        f"{_cpu_model()}, {os.cpu_count()} cores, {_memory_gib()} RAM",
        f"- Python {platform.python_version()} ({platform.python_implementation()})",
        f"- Packages: {versions}",
        f"- Tools: {_tool_version(['wrk', '-v'])}; hey "
        f"{'installed' if _tool_version(['hey', '-h']) != 'not installed' else 'not installed'}",
    ]


# --- tables -------------------------------------------------------------------------------------


def _num(value: float | None, fmt: str = ",.0f", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{fmt}}{suffix}"


def _mib(kib: float | None) -> str:
    return "-" if not kib else f"{kib / 1024:.1f} MiB"


def _rounds(scenario: Scenario, entry: ServerResult) -> str:
    fmt = ".2f" if scenario.tool == "latency" else ",.0f"
    return " / ".join(f"{r.value:{fmt}}" for r in entry.runs)


def scenario_table(result: ScenarioResult) -> list[str]:
    s = result.scenario
    unit = {"wrk": "req/s", "idle": "bytes/conn", "latency": "p99 ms"}[s.tool]
    header = ["server", f"{unit} (median)", "rounds", f"vs {result.baseline}"]
    if s.tool == "wrk":
        header += ["p50 ms", "p99 ms", "errors"]
    elif s.tool == "latency":
        header += ["p50 ms", "rate reached", "errors"]
    else:
        header += ["connections"]
    header += ["peak RSS"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, entry in result.servers.items():
        if entry.failure is not None and not entry.runs:
            first = entry.failure.splitlines()[0][:120].replace("|", "/")
            cells = [label, f"failed: {first}", *[""] * (len(header) - 2)]
            lines.append("| " + " | ".join(cells) + " |")
            continue
        ratio = result.ratio(label)
        fmt = ".2f" if s.tool == "latency" else ",.0f"
        cells = [f"**{label}**" if label.startswith("moreweb") else label,
                 _num(entry.median(), fmt), _rounds(s, entry),
                 _num(ratio, ".2f", "x")]
        last = entry.runs[-1] if entry.runs else None
        errors = sum(r.errors for r in entry.runs)
        if s.tool == "wrk":
            cells += [_num(entry.median_of("p50_ms"), ".2f"),
                      _num(entry.median_of("p99_ms"), ".2f"), str(errors)]
        elif s.tool == "latency":
            cells += [_num(entry.median_of("p50_ms"), ".2f"), last.detail if last else "",
                      str(errors)]
        else:
            cells += [last.detail if last else ""]
        cells += [_mib(max((r.peak_kib for r in entry.runs), default=0))]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def targets_table(results: list[ScenarioResult]) -> list[str]:
    lines = ["| scenario | target | moreweb/baseline | verdict |", "|---|---|---|---|"]
    for r in results:
        moreweb = next((k for k in r.servers if k.startswith("moreweb")), None)
        ratio = r.ratio(moreweb) if moreweb else None
        lines.append(f"| {r.scenario.title} | {r.scenario.target_text} | "
                     f"{_num(ratio, '.2f', 'x')} | {r.verdict()} |")
    return lines


def render(results: list[ScenarioResult], settings_line: str, quick: bool,
           invocation: list[str]) -> str:
    out = ["# moreweb benchmark results", ""]
    if quick:
        out += ["> **Quick run** (`--quick`): one short round, a smoke test of the tool. These",
                "> numbers are not measurements; run `python -m bench` for real ones.", ""]
    out += machine_lines()
    out += [f"- Method: {settings_line}",
            f"- Invocation: `{shlex.join(['python', '-m', 'bench', *invocation])}`", ""]
    out += ["## Targets", "", *targets_table(results), ""]
    for r in results:
        out += [f"## {r.scenario.title}", "",
                f"Metric: {r.scenario.metric} "
                f"({'higher' if r.scenario.higher_is_better else 'lower'} is better); "
                f"app `{r.scenario.app}`, {r.scenario.loop} loop.", ""]
        out += scenario_table(r)
        if r.notes:
            out += ["", *[f"- {note}" for note in r.notes]]
        failures = [e for e in r.servers.values() if e.failure is not None]
        for e in failures:
            out += ["", f"<details><summary>{e.label} failed</summary>", "", "```",
                    (e.failure or "").strip(), "```", "", "</details>"]
        out.append("")
    out += ["## Commands", "",
            f"Servers (shown with `{APPS['hello']}`; the post64k and starlette scenarios pass "
            f"`{APPS['echo']}` and `{APPS['starlette']}` instead):", ""]
    seen: set[str] = set()
    for r in results:
        for entry in r.servers.values():
            argv = ["python", *entry.command[1:]]
            argv = [APPS["hello"] if a == APPS[r.scenario.app] else a for a in argv]
            cmd = shlex.join(argv)
            if cmd not in seen:
                seen.add(cmd)
                out.append(f"- {entry.label}{' (idle)' if r.scenario.tool == 'idle' else ''}: "
                           f"`{cmd}`")
    out += ["", "Load:", ""]
    for r in results:
        for cmd in r.commands:
            out.append(f"- {r.scenario.key}: {cmd}")
    scripts = [(r.scenario.key, r.scenario.lua) for r in results if r.scenario.lua]
    for key, lua in scripts:
        out += ["", f"wrk script for `{key}`:", "", "```lua", lua.strip(), "```"]
    return "\n".join(out) + "\n"
