"""One full conformance run against one server: raw cases, the corpus, then the ASGI checks.

This is the only place that ties server lifetimes to test execution: it starts the server (and
its lenient-LF twin when it has one), runs everything against the live ports, stops them, and
judges the lifespan shutdown from what the app logged. It must never print or format results
(`report` does) and never leave a server running, whatever fails.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from conformance import asgi_checks
from conformance.cases import ALL_CASES
from conformance.corpus import corpus_cases
from conformance.model import Case, Result
from conformance.runner import run_cases
from conformance.servers import RunningServer, ServerFailed, ServerSpec, running


@dataclass
class ServerRun:
    name: str
    command: str
    results: list[Result] = field(default_factory=list)
    error: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(result.passed for result in self.results)

    @property
    def failed(self) -> list[Result]:
        return [result for result in self.results if not result.passed]


@dataclass(frozen=True)
class Selection:
    cases: bool = True
    corpus: bool = True
    asgi: bool = True
    corpus_dir: Path | None = None
    only: str = ""  # substring filter on case ids


def all_cases(selection: Selection, notes: list[str]) -> list[Case]:
    """The raw cases and corpus cases a selection asks for; a missing corpus is a note."""
    cases: list[Case] = list(ALL_CASES) if selection.cases else []
    if selection.corpus:
        try:
            cases += corpus_cases(selection.corpus_dir)
            cases += corpus_cases(selection.corpus_dir, lenient=True)
        except FileNotFoundError as exc:
            notes.append(f"corpus skipped: {exc}")
    if selection.only:
        cases = [case for case in cases if selection.only in case.case_id]
    return cases


@contextlib.contextmanager
def _maybe_lenient(spec: ServerSpec) -> Iterator[RunningServer | None]:
    if spec.lenient_command is None:
        yield None
        return
    with running(spec, lenient=True) as server:
        yield server


def run_server(spec: ServerSpec, selection: Selection = Selection()) -> ServerRun:
    run = ServerRun(spec.name, spec.command)
    cases = all_cases(selection, run.notes)
    want_asgi = selection.asgi and (not selection.only or "asgi" in selection.only)
    server: RunningServer | None = None
    try:
        with running(spec) as server, _maybe_lenient(spec) as lenient:
            lenient_port = lenient.port if lenient else None
            run.results += asyncio.run(run_cases(cases, server.port, lenient_port))
            if want_asgi:
                run.results += asyncio.run(asgi_checks.run_checks(server.port))
    except ServerFailed as exc:
        run.error = str(exc)
        return run
    if want_asgi and server is not None:
        run.results.append(asgi_checks.lifespan_shutdown_result(server.lifespan_events()))
    return run
