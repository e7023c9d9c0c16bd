"""Decide whether what a server did matches one of a case's acceptable outcomes.

Kept apart from the socket code so the rules of "pass" can be read (and unit-tested) on their
own. It must never be lenient behind the reader's back: a count, a status, an echoed field or a
connection state that differs from every outcome is a failure, with a message saying which.
"""

from __future__ import annotations

import json

from conformance.model import Case, Echo, End, Err, Ok, Outcome, Result, Step
from conformance.responses import Response
from conformance.wire import Transcript, compact


def finals_and_close(case: Case) -> tuple[int, bool]:
    """How many final responses to wait for, and whether closing is then expected."""
    finals = max(len(outcome.responses) for outcome in case.outcomes)
    close = all(outcome.end is End.CLOSED for outcome in case.outcomes
                if len(outcome.responses) == finals)
    return finals, close


def judge(case: Case, transcript: Transcript) -> Result:
    seen = transcript.summary()
    problems = [_mismatch(outcome, transcript, case) for outcome in case.outcomes]
    passed = any(problem == "" for problem in problems)
    detail = "" if passed else "; or ".join(dict.fromkeys(problems))
    if detail and case.note:
        detail += f" [{case.note}]"
    return Result(case.case_id, case.category, passed, seen, detail, case.rfc)


def _mismatch(outcome: Outcome, transcript: Transcript, case: Case) -> str:
    """'' when the transcript matches `outcome`, else what differs."""
    if transcript.connect_error:
        return f"could not connect: {transcript.connect_error}"
    if transcript.parse_error:
        return f"unparseable response: {transcript.parse_error}"
    got = transcript.responses
    want = outcome.responses
    if len(got) != len(want):
        statuses = _statuses(got)
        state = " (timed out)" if transcript.timed_out else ""
        return f"expected {_describe(want)}, got {statuses}{state}"
    for index, (step, response) in enumerate(zip(want, got, strict=True)):
        problem = _step_mismatch(step, response, index in case.head_requests)
        if problem:
            return f"response {index + 1}: {problem}"
    if transcript.incomplete:
        return "connection closed in the middle of a response"
    if outcome.end is End.CLOSED and not transcript.closed:
        return "connection left open (expected the server to close it)"
    if outcome.end is End.OPEN and transcript.closed:
        return "connection closed (expected it to stay open)"
    return ""


def _describe(steps: tuple[Step, ...]) -> str:
    """`2xx*3,400` style: long corpus sequences stay readable."""
    if not steps:
        return "no response"
    words: list[str] = []
    for step in steps:
        if isinstance(step, Ok):
            words.append("2xx")
        elif len(step.statuses) > 3:
            words.append(f"{min(step.statuses) // 100}xx-{max(step.statuses) // 100}xx")
        else:
            words.append("/".join(map(str, step.statuses)))
    return compact(words)


def _statuses(responses: list[Response]) -> str:
    return compact([str(r.status) for r in responses]) or "none"


def _step_mismatch(step: Step, response: Response, is_head: bool) -> str:
    if isinstance(step, Err):
        if response.status not in step.statuses:
            return f"status {response.status}, expected {_describe((step,))}"
        if step.framed:
            framing = response.header("content-length") or response.header("transfer-encoding")
            if not framing:
                return "error response without Content-Length or Transfer-Encoding"
            if not response.closes:
                return "error response without 'connection: close'"
        return ""
    if not 200 <= response.status < 300:
        return f"status {response.status}, expected 2xx"
    if step.interim is not None and tuple(response.interim) != step.interim:
        return f"interim responses {response.interim}, expected {list(step.interim)}"
    if step.echo is None or is_head:
        return ""
    return echo_mismatch(step.echo, response.body)


def echo_mismatch(echo: Echo, body: bytes) -> str:
    """Compare the echo app's JSON report with what the request should have delivered."""
    try:
        report = json.loads(body)
    except ValueError:
        return f"body is not the echo app's report: {body[:80]!r}"
    checks: list[tuple[str, object, object]] = [
        ("method", echo.method, report.get("method")),
        ("body", echo.body.decode("latin-1"), report.get("body")),
    ]
    if echo.target is not None:
        checks.append(("target", echo.target, report.get("target")))
    if echo.http_version is not None:
        checks.append(("http_version", echo.http_version, report.get("http_version")))
    if echo.headers is not None:
        wanted = [[name.lower(), value] for name, value in echo.headers]
        checks.append(("headers", wanted, report.get("headers")))
    reported_trailers = report.get("trailers") or []
    if echo.trailers is not None and reported_trailers:
        # Request trailers are outside the ASGI spec; only check them when delivered.
        wanted = [[name.lower(), value] for name, value in echo.trailers]
        checks.append(("trailers", wanted, reported_trailers))
    for name, want, got in checks:
        if want != got:
            return f"echo {name} is {_short(got)}, expected {_short(want)}"
    return ""


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
