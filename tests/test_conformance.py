"""The conformance suite in CI: moreweb's column, one test per case, plus the suite's own parts.

The server tests start moreweb once per session (strict and lenient-LF), run every raw case,
the And-HTTP corpus and the ASGI checks against it (about 15 s), then each test reports one
case. Cases moreweb is known to fail today are strict xfails naming the reason, so a fix makes
them XPASS and CI asks for the entry to be removed. The remaining tests check the suite's own
pieces (response reader, judge, corpus split and classification, echo app) without a server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest

from conformance import asgi_checks
from conformance.__main__ import main as conformance_main
from conformance.cases import ALL_CASES
from conformance.corpus import corpus_cases, default_corpus_dir, format_tsv
from conformance.corpus_rules import classification_rows
from conformance.corpus_split import split_requests, to_crlf
from conformance.echo_app import app as echo_app
from conformance.judge import judge
from conformance.model import Case, Echo, End, Result, accept, either, reject, wait
from conformance.responses import ResponseReader
from conformance.servers import resolve
from conformance.suite import Selection, ServerRun, run_server
from conformance.wire import Transcript

CORPUS = default_corpus_dir()
HAVE_CORPUS = CORPUS.is_dir()

# case id -> why moreweb fails it today; each becomes a strict xfail, so a fix shows up as
# XPASS and the entry must then be removed. Empty: moreweb passes every case.
KNOWN_FAILURES: dict[str, str] = {}


def _server_ids() -> list[str]:
    ids = [case.case_id for case in ALL_CASES]
    if HAVE_CORPUS:
        ids += [case.case_id for case in corpus_cases(CORPUS)]
        ids += [case.case_id for case in corpus_cases(CORPUS, lenient=True)]
    return ids + asgi_checks.check_ids()


def _param(case_id: str) -> Any:
    marks = [pytest.mark.xfail(reason=KNOWN_FAILURES[case_id], strict=True)] \
        if case_id in KNOWN_FAILURES else []
    return pytest.param(case_id, id=case_id, marks=marks)


@pytest.fixture(scope="session")
def moreweb_run() -> ServerRun:
    run = run_server(resolve("moreweb"), Selection(corpus_dir=CORPUS))
    if run.error:
        pytest.fail(f"moreweb did not start: {run.error}")
    return run


@pytest.mark.parametrize("case_id", [_param(case_id) for case_id in _server_ids()])
def test_moreweb_conforms(moreweb_run: ServerRun, case_id: str) -> None:
    results = {result.case_id: result for result in moreweb_run.results}
    assert case_id in results, f"{case_id} was not run"
    result = results[case_id]
    assert result.passed, f"{result.seen}: {result.detail}"


def test_moreweb_run_covers_everything(moreweb_run: ServerRun) -> None:
    assert len(moreweb_run.results) == len(_server_ids())
    if not HAVE_CORPUS:
        pytest.skip(f"And-HTTP corpus absent at {CORPUS}: corpus cases not run")


# --- the suite's own machinery, no server needed ------------------------------------------


def test_case_catalogue_is_large_and_cited() -> None:
    assert len(ALL_CASES) >= 100
    assert all(case.rfc.startswith("RFC ") for case in ALL_CASES)
    kinds = {len(outcome.responses) for case in ALL_CASES for outcome in case.outcomes}
    assert {0, 1, 2} <= kinds  # wait, single answers and pipelines are all represented


def test_reader_splits_pipelined_responses_with_every_framing() -> None:
    reader = ResponseReader(head_requests=(2,))
    reader.feed(b"HTTP/1.1 100 Continue\r\n\r\n"
                b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc"
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n"
                b"HTTP/1.1 200 OK\r\ncontent-length: 99\r\n\r\n"  # a HEAD answer: no body
                b"HTTP/1.0 400 Bad Request\r\nconnection: close\r\n\r\nuntil close")
    reader.eof()
    assert [r.status for r in reader.responses] == [200, 200, 200, 400]
    assert reader.responses[0].interim == [100]
    assert [r.body for r in reader.responses] == [b"abc", b"de", b"", b"until close"]
    assert reader.responses[3].closes and not reader.incomplete


def test_reader_flags_a_response_cut_short() -> None:
    reader = ResponseReader()
    reader.feed(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
    reader.eof()
    assert reader.responses == [] and reader.incomplete


def _transcript(raw: bytes, closed: bool) -> Transcript:
    reader = ResponseReader()
    reader.feed(raw)
    if closed:
        reader.eof()
    return Transcript(responses=reader.responses, closed=closed)


OK_ECHO = json.dumps({"method": "GET", "target": "/", "http_version": "1.1",
                      "headers": [["host", "a"]], "body": "", "trailers": []}).encode()
OK = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(OK_ECHO), OK_ECHO)
BAD = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
ECHO = Echo("GET", "/", "1.1", (("host", "a"),))


def _case(outcomes: Any) -> Case:
    return Case("x", "unit", "RFC 9112", (b"",), outcomes)


@pytest.mark.parametrize(("outcomes", "raw", "closed", "passes"), [
    (accept(ECHO), OK, False, True),
    (accept(ECHO), OK, True, False),  # closed although it should persist
    (accept(Echo("GET", "/other", "1.1", None)), OK, False, False),  # wrong echoed target
    (reject(400), BAD, True, True),
    (reject(400), BAD, False, False),  # answered but left open
    (reject(431), BAD, True, False),  # wrong status
    (either(ECHO, 400), OK, False, True),
    (either(ECHO, 400), BAD, True, True),
    (wait(), b"", False, True),
    (wait(), BAD, True, False),
    (reject(400, before=(ECHO,)), OK + BAD, True, True),
    (reject(400, before=(ECHO,)), BAD, True, False),  # the valid request went unanswered
])
def test_judge(outcomes: Any, raw: bytes, closed: bool, passes: bool) -> None:
    result = judge(_case(outcomes), _transcript(raw, closed))
    assert result.passed is passes, result.detail


def test_judge_any_end_and_framed_errors() -> None:
    from conformance.model import Err, Outcome

    framed = _case((Outcome((Err((400,), framed=True),), End.CLOSED),))
    unframed = b"HTTP/1.1 400 Bad Request\r\n\r\n"
    assert judge(framed, _transcript(BAD, True)).passed
    assert not judge(framed, _transcript(unframed, True)).passed


def test_lifespan_shutdown_judgement() -> None:
    assert asgi_checks.lifespan_shutdown_result(["startup", "shutdown"]).passed
    assert not asgi_checks.lifespan_shutdown_result(["startup"]).passed


def test_split_handles_bodies_http09_lines_and_leading_empty_lines() -> None:
    data = (b"\n\nPOST / HTTP/1.1\nContent-Length: 4\n\nab\ncGET /\n"
            b"GET / HTTP/1.1\nHost: x\n")
    requests = split_requests(data)
    assert [r.raw for r in requests] == [b"POST / HTTP/1.1\nContent-Length: 4\n\nab\nc",
                                         b"GET /\n", b"GET / HTTP/1.1\nHost: x\n"]
    assert [r.complete for r in requests] == [True, True, False]
    assert to_crlf(b"a\nb\r\n") == b"a\r\nb\r\n"


corpus_only = pytest.mark.skipif(not HAVE_CORPUS, reason=f"And-HTTP corpus absent at {CORPUS}")


@corpus_only
def test_corpus_has_the_documented_684_requests() -> None:
    files = [p for p in CORPUS.iterdir() if p.is_file() and not p.name.endswith(".md")]
    assert len(files) == 131
    assert sum(len(split_requests(p.read_bytes())) for p in files) == 684


@corpus_only
def test_shipped_classification_matches_the_rules() -> None:
    shipped = (Path(__file__).parent.parent / "conformance" / "and_suite.tsv").read_text()
    assert format_tsv(classification_rows(CORPUS)) == shipped


def _call_echo(scope: dict[str, Any], messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    asyncio.run(echo_app(scope, receive, send))
    return sent


def test_echo_app_reports_the_request_verbatim() -> None:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/a b", "raw_path": b"/a%20b",
             "query_string": b"q=\xe9", "root_path": "", "headers": [(b"x", b"caf\xe9")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2)}
    sent = _call_echo(scope, [
        {"type": "http.request", "body": b"\x00\xff", "more_body": True},
        {"type": "http.request", "body": b"!", "more_body": False}])
    assert sent[0]["status"] == 200
    report = json.loads(sent[1]["body"])
    assert report["target"] == "/a%20b?q=\xe9"
    assert report["headers"] == [["x", "caf\xe9"]]
    assert report["body"].encode("latin-1") == b"\x00\xff!"
    assert report["body_messages"] == [True, False]


def test_cli_rejects_an_unknown_server_name() -> None:
    assert conformance_main(["--server", "no-such-server", "--no-corpus"]) == 2


def test_result_type_is_plain_data() -> None:
    result = Result("a/b", "a", True, "200 open")
    assert result.detail == "" and result.extra == {}
