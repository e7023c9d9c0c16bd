"""The And-HTTP corpus as conformance cases: one case per file, judged request by request.

Each file goes over a fresh connection (LF converted to CRLF for the strict server, as-is for
the lenient-LF one). From our classification (`and_suite.tsv`) follows what a conforming server
does: answer each valid request with 2xx in order; at the first invalid request answer 4xx/5xx
and close; stop after a request that ends the connection; wait at an incomplete one. The corpus
is read from `../shared/corpora/and_suite` beside the repository and is never copied into it.
This module must never decide validity itself: the TSV does (see `corpus_rules`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from conformance.corpus_split import CorpusRequest, split_requests, to_crlf
from conformance.model import Case, Echo, End, Err, Ok, Outcome, Step

HERE = Path(__file__).resolve().parent
CLASSIFICATION = HERE / "and_suite.tsv"
CORPUS_ENV = "CONFORMANCE_CORPUS_DIR"
ANY_ERROR = tuple(range(400, 600))
TSV_HEADER = "# file\tindex\tverdict\tends\tfirst_line\treason\n"


def default_corpus_dir() -> Path:
    override = os.environ.get(CORPUS_ENV)
    if override:
        return Path(override)
    return HERE.parent.parent / "shared" / "corpora" / "and_suite"


@dataclass(frozen=True)
class Entry:
    file: str
    index: int
    verdict: str
    ends: str
    first_line: str
    reason: str


def format_tsv(rows: list[tuple[str, int, str, str, str, str]]) -> str:
    """(file, index, verdict, ends, first_line, reason) rows as the shipped TSV text."""
    return TSV_HEADER + "".join("\t".join([file, str(index), *rest]) + "\n"
                                for file, index, *rest in rows)


def load_classification(path: Path = CLASSIFICATION) -> dict[str, list[Entry]]:
    by_file: dict[str, list[Entry]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        file, index, verdict, ends, first_line, reason = line.split("\t")
        by_file.setdefault(file, []).append(
            Entry(file, int(index), verdict, ends, first_line, reason))
    return by_file


def _echo_for(request: CorpusRequest) -> Echo:
    words = request.first_line.split(" ")
    target = words[1] if len(words) > 1 and words[1].startswith("/") else None
    return Echo(request.method, target, None, None, b"")


def expected_outcomes(requests: list[CorpusRequest],
                      entries: list[Entry]) -> tuple[Outcome, ...]:
    """Every acceptable (responses, end) sequence for one file, given its classification."""
    outcomes: list[Outcome] = []
    steps: list[Step] = []
    for request, entry in zip(requests, entries, strict=False):
        if entry.verdict == "incomplete":
            outcomes.append(Outcome(tuple(steps), End.OPEN))
            return tuple(outcomes)
        if entry.verdict == "invalid":
            outcomes.append(Outcome((*steps, Err(ANY_ERROR)), End.CLOSED))
            return tuple(outcomes)
        steps.append(Ok(_echo_for(request)))
        if entry.ends == "close":
            outcomes.append(Outcome(tuple(steps), End.CLOSED))
            return tuple(outcomes)
        if entry.ends == "may":
            outcomes.append(Outcome(tuple(steps), End.CLOSED))
    # All answered and the connection persists (an empty file: nothing to answer at all).
    outcomes.append(Outcome(tuple(steps), End.OPEN if steps else End.ANY))
    return tuple(outcomes)


def _note(entries: list[Entry]) -> str:
    """Why the file's expected answers stop where they do (shown with a failure)."""
    for entry in entries:
        if entry.verdict != "valid" or entry.ends == "close":
            return f"request {entry.index} {entry.verdict}: {entry.reason}"
    return f"all {len(entries)} requests valid"


class CorpusMismatch(RuntimeError):
    """The corpus on disk does not match the classification shipped with the suite."""


def corpus_cases(corpus_dir: Path | None = None, *, lenient: bool = False,
                 classification: Path = CLASSIFICATION) -> list[Case]:
    """One Case per corpus file; raises FileNotFoundError when the corpus is absent."""
    corpus_dir = corpus_dir or default_corpus_dir()
    if not corpus_dir.is_dir():
        raise FileNotFoundError(f"And-HTTP corpus not found at {corpus_dir}")
    table = load_classification(classification)
    files = sorted(p.name for p in corpus_dir.iterdir()
                   if p.is_file() and not p.name.endswith(".md"))
    missing = sorted(set(table) - set(files))
    if missing:
        raise CorpusMismatch(f"classified but missing from {corpus_dir}: {missing}")
    cases = []
    for name in files:
        data = (corpus_dir / name).read_bytes()
        requests = split_requests(data)
        entries = table.get(name, [])
        lines = [r.first_line.encode("unicode_escape").decode("ascii") for r in requests]
        if lines != [entry.first_line for entry in entries]:
            raise CorpusMismatch(f"{name}: requests differ from the classification")
        heads = tuple(i for i, r in enumerate(requests) if r.method == "HEAD")
        category = "and-suite-lf" if lenient else "and-suite"
        cases.append(Case(name, category, "RFC 9112", (data if lenient else to_crlf(data),),
                          expected_outcomes(requests, entries), _note(entries),
                          lenient=lenient, head_requests=heads))
    return cases


def corpus_request_count(cases: list[Case]) -> int:
    return sum(len(split_requests(case.send[0].replace(b"\r\n", b"\n"))) for case in cases)
