"""Run wrk against a URL and read its summary: requests/s, latency percentiles, errors.

wrk is an external program (Debian/Ubuntu: `apt-get install wrk`; elsewhere build it from its
source). The Lua scripts for the pipelined and POST scenarios are written to a temporary file at
run time, so nothing here depends on the working directory.

It must never report a number without its errors: a server that answers fast with errors or
resets is not fast, so non-2xx responses and socket errors are parsed and carried along.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = (
    "wrk is required for `python -m bench` and was not found on PATH.\n"
    "Install it: Debian/Ubuntu `apt-get install wrk`, Fedora `dnf install wrk`, macOS\n"
    "`brew install wrk`, or build it from its source repository (make; copy ./wrk to PATH)."
)

#: Lua for wrk: 16 requests written at once, per connection, each time it writes.
PIPELINE_LUA = """
local depth = {depth}
local batch
init = function(args)
  local parts = {{}}
  for i = 1, depth do
    parts[i] = wrk.format("GET", "/")
  end
  batch = table.concat(parts)
end
request = function()
  return batch
end
"""

#: Lua for wrk: a POST with a {size}-byte body (wrk adds Content-Length).
POST_LUA = """
wrk.method = "POST"
wrk.body = string.rep("x", {size})
wrk.headers["Content-Type"] = "application/octet-stream"
"""


def wrk_path() -> str | None:
    return shutil.which("wrk")


def pipeline_script(depth: int = 16) -> str:
    return PIPELINE_LUA.format(depth=depth)


def post_script(size: int = 65536) -> str:
    return POST_LUA.format(size=size)


@dataclass
class WrkResult:
    requests_per_sec: float
    requests: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    non_2xx: int
    socket_errors: int
    output: str

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]


def parse_output(text: str) -> WrkResult:
    """Read wrk's summary (as printed with --latency); raise ValueError if it has none."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    total = re.search(r"^\s*(\d+) requests in ", text, re.M)
    if rps is None or total is None:
        raise ValueError(f"no wrk summary in output:\n{text[-2000:]}")
    percentiles = {
        m.group(1): _ms(m.group(2), m.group(3))
        for m in re.finditer(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.M)
    }
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    socket_errors = sum(int(g) for g in sock.groups()) if sock else 0
    return WrkResult(
        requests_per_sec=float(rps.group(1)),
        requests=int(total.group(1)),
        latency_p50_ms=percentiles.get("50"),
        latency_p99_ms=percentiles.get("99"),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=socket_errors,
        output=text,
    )


def wrk_command(url: str, duration: float, connections: int = 64, threads: int = 1,
                script: Path | None = None) -> list[str]:
    path = wrk_path() or "wrk"
    argv = [path, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s",
            "--latency", "--timeout", "5s"]
    if script is not None:
        argv += ["-s", str(script)]
    return [*argv, url]


def run_wrk(url: str, duration: float, connections: int = 64, threads: int = 1,
            lua: str | None = None) -> WrkResult:
    """Run wrk once (`lua`: script text, or None for plain GETs) and parse its summary."""
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        script = None
        if lua is not None:
            script = Path(tmp) / "script.lua"
            script.write_text(lua)
        argv = wrk_command(url, duration, connections, threads, script)
        done = subprocess.run(argv, capture_output=True, text=True,
                              timeout=duration + 60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited with {done.returncode}: {done.stderr.strip()}")
    return parse_output(done.stdout)
