"""Every emulator test starts and ends with no faults and the default reply."""

from __future__ import annotations

import pytest

from realtime_widgets.emulator import default_reply


@pytest.fixture(autouse=True)
def fresh_faults(emulator):
    emulator.faults.reset()
    emulator.reply = default_reply
    yield
    emulator.faults.reset()
    emulator.reply = default_reply
