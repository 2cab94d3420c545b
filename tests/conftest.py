"""Fixtures shared by every test folder.

Tests open loopback sockets only; proxy variables would route them elsewhere, so they are cleared
before anything imports an HTTP client.
"""

from __future__ import annotations

import os

import pytest

# Fails the test that leaves an openai client open for the garbage collector (see the module).
pytest_plugins = ["tests.client_leaks"]

for _name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_name, None)
os.environ["no_proxy"] = os.environ["NO_PROXY"] = "*"
# No test may reach a real service: settings of the developer's shell are not used.
for _name in (
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_DEPLOYMENT_NAME",
    "OPENAI_API_VERSION",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "REALTIME_WIDGETS_CASSETTE",
    "REALTIME_WIDGETS_RECORD_MODE",
):
    os.environ.pop(_name, None)
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def emulator():
    """One in-process emulator for the whole run; tests that inject faults reset `emulator.faults`."""
    from realtime_widgets.emulator import Emulator

    with Emulator() as emu:
        yield emu


@pytest.fixture
def clean_emulator(emulator):
    """The shared emulator with no faults and the default reply, before the test and after it."""
    emulator.faults.reset()
    emulator.reply = None  # None restores default_reply
    yield emulator
    emulator.faults.reset()
    emulator.reply = None
