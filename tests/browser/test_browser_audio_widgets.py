"""MicRecorder + AudioPlayer in JupyterLab 4 with Chromium's fake microphone, against the emulator."""

from __future__ import annotations

from browser_harness import KernelProbe, open_notebook

SETUP = """\
from ipywidgets import VBox
from realtime_widgets import RealtimeSession, SessionConfig
from realtime_widgets.widgets import AudioPlayer, MicRecorder

session = RealtimeSession(config=SessionConfig(silence_duration_ms=300))  # the embedded emulator
await session.connect()
"""

WIDGETS = """\
recorder = MicRecorder()
recorder.connect(session)
player = AudioPlayer()
player.connect(session)
# The fake microphone loops its file: stop once the server has heard the end of the utterance,
# so the second loop does not barge in on the reply.
session.on("input_audio_buffer.speech_stopped", lambda e: setattr(recorder, "recording", False))
VBox([recorder, player])
"""

STATE = """dict(
    chunks=recorder.chunks_received, lost=recorder.chunks_lost, error=recorder.error,
    recording=recorder.recording, appends=sum(e.type == 'input_audio_buffer.append' for e in session.event_log),
    played_ms=player.played_ms, playing=player.playing, scheduled=player.schedule_latencies_ms,
    deltas=sum(n for k, n, _ in player.history if k == 'delta'),
    types=[e.type for e in session.event_log if e.direction == 'server'],
    turns=[(t.status, t.audio.size, t.user_audio.size) for t in session.conversation.turns],
)"""


def test_recorder_streams_the_fake_microphone_and_the_player_plays_the_reply(page, jupyter_server) -> None:
    open_notebook(page, jupyter_server, "audio_widgets.ipynb", [SETUP, WIDGETS], wait_idle=True)
    record = page.get_by_role("button", name="Record")
    record.click(timeout=60_000)
    page.get_by_role("button", name="Stop").wait_for()  # the name changes while recording

    with KernelProbe(jupyter_server, "audio_widgets.ipynb") as probe:
        probe.wait_for("any(e.type == 'response.done' for e in session.event_log)", timeout=30)
        page.get_by_role("button", name="Record").wait_for()  # stopped by the kernel, shown in the page
        state = probe.wait_for(f"(lambda s: s if not s['playing'] and s['played_ms'] > 0 else None)({STATE})")

    assert "input_audio_buffer.speech_started" in state["types"]
    assert state["chunks"] == state["appends"] > 10 and state["lost"] == 0 and state["error"] == ""
    status, out_samples, in_samples = state["turns"][0]
    assert status == "completed" and out_samples > 12_000 and in_samples > 12_000
    assert state["deltas"] == out_samples  # every delta went to the page
    # The page played the whole reply (within a block of scheduling) and said so.
    assert abs(state["played_ms"] - out_samples / 24) < 50
    assert len(state["scheduled"]) == 1 and 0 <= state["scheduled"][0] < 1000
    assert "s played" in page.locator(".rw-position").inner_text()
