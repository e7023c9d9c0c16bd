"""Print what the HTTP/1.1 engine tests left for the terminal summary (the corpus replay's
counts), so it shows in every run, with or without `-s`."""

from __future__ import annotations

import pytest
from http11_driver import SUMMARY_KEY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    lines = config.stash.get(SUMMARY_KEY, [])
    if lines:
        terminalreporter.section("moreweb http11: And-HTTP corpus replay")
        for line in lines:
            terminalreporter.write_line(line)
