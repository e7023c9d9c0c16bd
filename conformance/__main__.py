"""Command line: `python -m conformance [--server NAME|'CMD {port}'] [--compare] ...`.

Parses options, runs the suite against each chosen server in turn, prints a summary, and writes
the Markdown/JSON reports when asked. Exit status is 1 when the first server (moreweb unless
told otherwise) fails any case or does not start; peers' failures never change it. It must
never install anything: peers that are missing are listed as not compared.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conformance import report
from conformance.servers import KNOWN, resolve
from conformance.suite import Selection, ServerRun, run_server


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m conformance",
        description="Black-box HTTP/1.1 + ASGI conformance suite for moreweb and its peers.")
    parser.add_argument("--server", action="append", default=[],
                        help=f"one of {', '.join(KNOWN)} or a command with {{port}} "
                             "(repeatable; default: moreweb)")
    parser.add_argument("--compare", action="store_true",
                        help="run moreweb and every installed peer")
    parser.add_argument("--markdown", type=Path, help="write the comparison table here")
    parser.add_argument("--json", type=Path, help="write machine-readable results here")
    parser.add_argument("--only", default="", help="run only case ids containing this text")
    parser.add_argument("--no-corpus", action="store_true", help="skip the And-HTTP corpus")
    parser.add_argument("--no-asgi", action="store_true", help="skip the ASGI checks")
    parser.add_argument("--corpus-dir", type=Path, help="And-HTTP corpus directory")
    parser.add_argument("-v", "--verbose", action="store_true", help="list passing cases too")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    names: list[str] = list(args.server) or ["moreweb"]
    if args.compare:
        names = list(dict.fromkeys(names + list(KNOWN)))
    selection = Selection(cases=True, corpus=not args.no_corpus, asgi=not args.no_asgi,
                          corpus_dir=args.corpus_dir, only=args.only)
    runs: list[ServerRun] = []
    missing: list[str] = []
    for name in names:
        try:
            spec = resolve(name)
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 2
        if not spec.available():
            missing.append(spec.name)
            print(f"{spec.name}: not installed, skipped", file=sys.stderr)
            continue
        print(f"running {spec.name} ...", file=sys.stderr, flush=True)
        run = run_server(spec, selection)
        runs.append(run)
        print(report.console(run, args.verbose), flush=True)
    command = "python -m conformance " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.markdown:
        args.markdown.write_text(report.markdown(runs, missing, command.strip()),
                                 encoding="utf-8")
    if args.json:
        args.json.write_text(report.as_json(runs, missing), encoding="utf-8")
    if not runs:
        return 1
    first = runs[0]
    return 0 if runs[0].name == names[0] and not first.error and not first.failed else 1


if __name__ == "__main__":
    sys.exit(main())
