"""Fast checks of the benchmark tool itself: parsers, apps, engine harness. No server, no load.

Run with `python -m pytest bench/test_bench.py` (well under a second). These guard the numbers
the tool reports: a parser that misreads wrk's units or drops hey's errors would make every
later result wrong without any visible failure.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from typing import Any

import pytest

from bench import apps, engine, latency, wrk
from bench.scenarios import SCENARIOS, Run, ScenarioResult, ServerResult
from bench.servers import KINDS

WRK_OUTPUT = """\
Running 10s test @ http://127.0.0.1:8000/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.47ms  210.11us   7.89ms   91.02%
    Req/Sec    43.71k     1.02k   45.12k    83.00%
  Latency Distribution
     50%  850.00us
     75%    1.50ms
     90%    1.62ms
     99%    1.23s
  435012 requests in 10.00s, 55.18MB read
  Socket errors: connect 0, read 3, write 1, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec:  43498.37
Transfer/sec:      5.52MB
"""

HEY_OUTPUT = """\
Summary:
  Requests/sec:\t9972.3134

Latency distribution:
  10% in 0.0004 secs
  50% in 0.0007 secs
  99% in 0.0032 secs

Status code distribution:
  [200]\t19968 responses
  [503]\t4 responses

Error distribution:
  [12]\tGet "http://127.0.0.1:1/": dial tcp: connection refused
"""


def test_wrk_summary_units_and_errors_are_read() -> None:
    r = wrk.parse_output(WRK_OUTPUT)
    assert r.requests_per_sec == 43498.37
    assert r.requests == 435012
    assert r.latency_p50_ms == pytest.approx(0.85)
    assert r.latency_p99_ms == pytest.approx(1230.0)
    assert (r.non_2xx, r.socket_errors, r.errors) == (7, 6, 13)


def test_wrk_output_without_summary_is_an_error() -> None:
    with pytest.raises(ValueError):
        wrk.parse_output("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_hey_summary_counts_non_2xx_and_transport_errors() -> None:
    r = latency.parse_output(HEY_OUTPUT, 10000)
    assert r.requests_per_sec == pytest.approx(9972.3134)
    assert r.latency_p50_ms == pytest.approx(0.7)
    assert r.latency_p99_ms == pytest.approx(3.2)
    assert (r.ok, r.errors) == (19968, 16)


def test_hey_rate_is_split_over_its_workers() -> None:
    argv = latency.hey_command("http://x/", 6400, 10, connections=64)
    assert argv[argv.index("-q") + 1] == "100.00"
    assert "-q" not in latency.hey_command("http://x/", 1e12, 10, connections=64)


def test_lua_scripts_pipeline_sixteen_and_post_64_kib() -> None:
    assert "local depth = 16" in wrk.pipeline_script(16)
    assert 'string.rep("x", 65536)' in wrk.post_script(65536)


async def _call(app: Any, scope: dict[str, Any], body_parts: list[bytes]) -> list[dict[str, Any]]:
    incoming = [{"type": "http.request", "body": part, "more_body": i < len(body_parts) - 1}
                for i, part in enumerate(body_parts)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def _scope(method: str = "GET") -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": "/", "raw_path": b"/",
            "query_string": b"", "root_path": "", "headers": [], "client": None,
            "server": ("127.0.0.1", 8000)}


def test_hello_app_answers_hello_world() -> None:
    sent = asyncio.run(_call(apps.hello, _scope(), [b""]))
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == b"Hello, world!"


def test_echo_app_returns_every_body_chunk_with_its_length() -> None:
    sent = asyncio.run(_call(apps.echo, _scope("POST"), [b"a" * 1000, b"b" * 24]))
    assert sent[1]["body"] == b"a" * 1000 + b"b" * 24
    assert (b"content-length", b"1024") in sent[0]["headers"]


@pytest.mark.skipif(apps.starlette_json is None, reason="starlette not installed")
def test_starlette_app_returns_the_json_document() -> None:
    sent = asyncio.run(_call(apps.starlette_json, _scope(), [b""]))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert json.loads(body) == apps.JSON_DOCUMENT


def test_every_server_binds_loopback_and_gets_the_loop_asked_for() -> None:
    for kind in KINDS.values():
        argv = kind.command("bench.apps:hello", 8123, "uvloop")
        joined = " ".join(argv)
        assert "127.0.0.1" in joined and "8123" in joined
        assert "uvloop" in joined


def test_ratio_and_verdict_follow_the_metric_direction() -> None:
    idle = ScenarioResult(SCENARIOS["idle"], "uvicorn-httptools")
    idle.servers["moreweb"] = ServerResult("moreweb", [], [Run(4000.0), Run(5000.0)])
    idle.servers["uvicorn-httptools"] = ServerResult("uvicorn-httptools", [], [Run(9000.0)])
    assert idle.ratio("moreweb") == pytest.approx(0.5)
    assert idle.verdict() == "PASS"
    hello = ScenarioResult(SCENARIOS["hello"], "uvicorn-httptools")
    hello.servers["moreweb"] = ServerResult("moreweb", [], [Run(80.0), Run(70.0), Run(90.0)])
    hello.servers["uvicorn-httptools"] = ServerResult("uvicorn-httptools", [], [Run(50.0)])
    assert hello.ratio("moreweb") == pytest.approx(1.6)
    assert hello.verdict() == "FAIL"


@pytest.mark.skipif(importlib.util.find_spec("h11") is None, reason="h11 not installed")
def test_engine_harness_accepts_h11_output_and_rejects_a_wrong_expectation() -> None:
    h11_engine = engine.H11Engine()
    for case in engine.CASES:
        engine.check(h11_engine, case)
    wrong = engine.Case("x", "x", engine.GET_BROWSER, b"GET", b"/other", 10, b"")
    with pytest.raises(AssertionError):
        engine.check(h11_engine, wrong)
