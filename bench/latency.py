"""Latency at a fixed request rate, with hey: the p99 a server gives when it is not saturated.

The issue's scenario fixes the rate at 50% of uvicorn+httptools' measured maximum, the same rate
for every server, so the comparison is latency under equal load rather than throughput. hey's
`-q` limits each of its `-c` workers, so the per-worker rate is the total divided by `-c`.
hey is an external program (Debian/Ubuntu: `apt-get install hey`); without it this scenario is
skipped with a note.

It must never report a p99 without the rate actually achieved and the errors seen: a client that
could not keep up, or a server that refused, changes what the percentile means.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

INSTALL_HINT = "hey not found: install it (Debian/Ubuntu `apt-get install hey`) to measure latency"


def hey_path() -> str | None:
    return shutil.which("hey")


@dataclass
class HeyResult:
    target_rate: float
    requests_per_sec: float
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    ok: int  # 2xx responses
    errors: int  # non-2xx responses plus transport errors
    output: str


def parse_output(text: str, target_rate: float = 0.0) -> HeyResult:
    """Read hey's summary; raise ValueError if it has none."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if rps is None:
        raise ValueError(f"no hey summary in output:\n{text[-2000:]}")
    percentiles = {
        m.group(1): float(m.group(2)) * 1000.0
        for m in re.finditer(r"^\s*(\d+)%+ in ([\d.]+) secs", text, re.M)
    }
    ok = errors = 0
    status_part, _, error_part = text.partition("Error distribution:")
    for m in re.finditer(r"\[(\d{3})\]\s+(\d+) responses", status_part):
        if m.group(1).startswith("2"):
            ok += int(m.group(2))
        else:
            errors += int(m.group(2))
    errors += sum(int(m.group(1)) for m in re.finditer(r"^\s*\[(\d+)\]\s", error_part, re.M))
    return HeyResult(target_rate, float(rps.group(1)), percentiles.get("50"),
                     percentiles.get("99"), ok, errors, text)


def hey_command(url: str, rate: float, duration: float, connections: int = 64) -> list[str]:
    per_worker = rate / connections
    argv = [hey_path() or "hey", "-z", f"{max(1, round(duration))}s", "-c", str(connections)]
    if 0 < per_worker < 100_000:  # hey's ticker needs a period of at least a microsecond
        argv += ["-q", f"{per_worker:.2f}"]
    return [*argv, "-disable-compression", url]


def run_hey(url: str, rate: float, duration: float, connections: int = 64) -> HeyResult:
    """Drive `url` at `rate` requests/s in total for `duration` seconds and parse the result."""
    argv = hey_command(url, rate, duration, connections)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"hey exited with {done.returncode}: {done.stderr.strip()}")
    return parse_output(done.stdout, rate)
