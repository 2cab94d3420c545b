"""Every client test starts and ends with the shared emulator free of injected faults."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def no_faults(emulator):
    emulator.faults.reset()
    yield
    emulator.faults.reset()
