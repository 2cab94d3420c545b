"""The conformance folder: a clean emulator per test, and the strict-validation figures at the end."""

from __future__ import annotations

import pytest
from strict import TALLY


@pytest.fixture(autouse=True)
def fresh_emulator(clean_emulator):
    return clean_emulator


def pytest_terminal_summary(terminalreporter):
    if not TALLY.validated:
        return
    terminalreporter.section("conformance: server events against the openai SDK's types (strict)")
    for line in TALLY.summary_lines():
        terminalreporter.write_line(line)
