"""Fixtures for widget tests without a browser: a comm that records what would go to the page."""

from __future__ import annotations

import comm
import comm.base_comm
import pytest

from realtime_widgets.config import ConnectionConfig
from realtime_widgets.session import RealtimeSession
from realtime_widgets.session_config import SessionConfig


class RecordingComm(comm.base_comm.BaseComm):
    """The comm a kernel would give a widget, keeping what would go to the page."""

    def __init__(self, **kw):
        self.sent = []
        super().__init__(**kw)

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        self.sent.append((msg_type, data, buffers))

    def custom_with_buffers(self, kind=None):
        """Custom messages as `(content, buffers)`, optionally only those of one `kind`."""
        return [
            (d["content"], b)
            for t, d, b in self.sent
            if t == "comm_msg"
            and d.get("method") == "custom"
            and (kind is None or d["content"].get("kind") == kind)
        ]

    def custom(self, kind=None):
        return [content for content, _ in self.custom_with_buffers(kind)]


@pytest.fixture
def front_end(monkeypatch):
    """Widgets created in the test talk to a recording comm (the hook kernels use)."""
    monkeypatch.setattr(comm, "create_comm", lambda **kw: RecordingComm(**kw))


@pytest.fixture
async def session(emulator):
    async with RealtimeSession(ConnectionConfig.for_emulator(emulator), SessionConfig()) as s:
        yield s
