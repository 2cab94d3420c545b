"""The conformance folder: a clean emulator per test, and the strict-validation figures at the end."""

from __future__ import annotations

import pytest
from strict import TALLY

from realtime_widgets.emulator import default_reply


@pytest.fixture(autouse=True)
def fresh_emulator(emulator):
    emulator.faults.reset()
    emulator.reply = default_reply
    yield
    emulator.faults.reset()
    emulator.reply = default_reply


def pytest_terminal_summary(terminalreporter):
    if not TALLY.validated:
        return
    terminalreporter.section("conformance: server events against the openai SDK's types (strict)")
    for line in TALLY.summary_lines():
        terminalreporter.write_line(line)
