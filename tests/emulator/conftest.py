"""Every emulator test starts and ends with no faults and the default reply."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def fresh_faults(clean_emulator):
    return clean_emulator
