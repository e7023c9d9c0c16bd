"""The issue's benchmark scenarios and the shape of their results.

One `Scenario` per row of the issue's target table: which app, which event loop, which load
generator, what is compared with uvicorn+httptools and in which direction. The results are plain
data that report.py renders; nothing here starts a process or measures anything.

It must never hold a target that differs from the issue's table: the targets are the contract.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from bench.servers import BASELINE, KINDS
from bench.wrk import pipeline_script, post_script


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    app: str  # a key of servers.APPS
    loop: str  # "asyncio" or "uvloop", for every server alike
    tool: str  # "wrk", "idle" or "latency"
    metric: str  # what `Run.value` holds, with its unit
    higher_is_better: bool
    target: float  # moreweb / baseline must be >= target (or <= when lower is better)
    lua: str | None = None
    latency_meaningful: bool = True  # wrk times a pipelined batch, not a request

    @property
    def baseline(self) -> str:
        """The label of the server ratios are taken against: same app, same loop."""
        return KINDS[BASELINE].label(self.loop)

    @property
    def target_text(self) -> str:
        sign = ">=" if self.higher_is_better else "<="
        return f"moreweb/{self.baseline} {sign} {self.target:g}x"


SCENARIOS: dict[str, Scenario] = {
    s.key: s
    for s in (
        Scenario("hello", "hello, raw ASGI app, keep-alive, 64 connections", "hello",
                 "asyncio", "wrk", "requests/s", True, 2.0),
        Scenario("hello-uvloop", "the same with uvloop on both sides", "hello", "uvloop",
                 "wrk", "requests/s", True, 2.0),
        Scenario("pipeline", "16 requests pipelined per write", "hello", "asyncio", "wrk",
                 "requests/s", True, 3.0, lua=pipeline_script(16), latency_meaningful=False),
        Scenario("post64k", "POST with 64 KiB body echoed back", "echo", "asyncio", "wrk",
                 "requests/s", True, 1.5, lua=post_script(65536)),
        Scenario("starlette", "Starlette JSON endpoint", "starlette", "asyncio", "wrk",
                 "requests/s", True, 1.5),
        Scenario("idle", "idle keep-alive connections: memory per connection", "hello",
                 "asyncio", "idle", "bytes/connection", False, 1.0),
        Scenario("latency", "latency at a fixed rate of 50% of uvicorn's maximum", "hello",
                 "asyncio", "latency", "p99 ms", False, 1.0),
    )
}


@dataclass
class Run:
    """One measurement of one server in one round."""

    value: float  # in the scenario's metric
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int = 0
    peak_kib: int = 0
    detail: str = ""  # what else a reader needs to trust `value` (alive count, rate reached)
    rate_reached: float | None = None  # latency scenario: requests/s the client achieved


@dataclass
class ServerResult:
    label: str
    command: list[str]  # argv with "PORT" in place of the port
    runs: list[Run] = field(default_factory=list)
    failure: str | None = None

    def median(self) -> float | None:
        return statistics.median(r.value for r in self.runs) if self.runs else None

    def median_of(self, attr: str) -> float | None:
        values = [getattr(r, attr) for r in self.runs if getattr(r, attr) is not None]
        return statistics.median(values) if values else None


@dataclass
class ScenarioResult:
    scenario: Scenario
    baseline: str  # the baseline's label (uvicorn-httptools or uvicorn-httptools+uvloop)
    servers: dict[str, ServerResult] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)  # load generator command lines

    def ratio(self, label: str) -> float | None:
        """`label`'s median over the baseline's (None when either is missing)."""
        mine = self.servers[label].median() if label in self.servers else None
        base = self.servers[self.baseline].median() if self.baseline in self.servers else None
        if mine is None or base is None or base == 0:
            return None
        return mine / base

    def verdict(self) -> str:
        moreweb = next((k for k in self.servers if k.startswith("moreweb")), None)
        ratio = self.ratio(moreweb) if moreweb else None
        if ratio is None:
            return "not measured"
        s = self.scenario
        ok = ratio >= s.target if s.higher_is_better else ratio <= s.target
        return "PASS" if ok else "FAIL"
