"""Chromium's fake microphone plays the emulator's own voice through the browser's microphone path
(48 kHz, echo cancellation, noise suppression, automatic gain, the page's resampler to 24 kHz): the
kernel's emulator transcribes it word for word, by its sound."""

from __future__ import annotations

from browser_harness import MIC_TEXT, REPO, KernelProbe, run_all_cells, write_notebook

ARTIFACTS = REPO / "artifacts"

CELLS = [
    f"""\
from realtime_widgets import RealtimeConsole
from realtime_widgets.emulator import synthesize

# The fake microphone plays these words, made in the test's process at 48 kHz; this kernel hosts the
# emulator, so it says them once itself (at 24 kHz) to know them.
synthesize({MIC_TEXT!r}, "alloy")
console = RealtimeConsole()
console.session.on("input_audio_buffer.speech_stopped", lambda e: setattr(console.recorder, "recording", False))
console
"""
]

STATE = """[(t.user_transcript, t.user_transcript_pending, t.transcript, t.status)
 for t in console.session.conversation.turns]"""


def test_fake_microphone_speech_is_transcribed_exactly(page, jupyter_server) -> None:
    name = "fake_mic_transcript.ipynb"
    write_notebook(jupyter_server.root / name, CELLS)
    jupyter_server.start_kernel_for(name)
    page.goto(jupyter_server.lab_url(name))
    run_all_cells(page)
    page.get_by_role("button", name="Record").click(timeout=60_000)
    page.locator(".rw-ev-type").filter(has_text="response.done").first.wait_for(timeout=60_000)
    probe = KernelProbe(jupyter_server, name)
    try:
        turns = probe.wait_for(
            f"(lambda t: t if t and not t[0][1] and t[0][3] == 'completed' else None)({STATE})", timeout=30
        )
        settings = probe.wait_for(
            "(console.recorder.echo_cancellation, console.recorder.noise_suppression,"
            " console.recorder.auto_gain_control, console.recorder.in_browser)"
        )
    finally:
        probe.close()
    user, _, reply, _ = turns[0]
    assert settings == [True, True, True, True], "the browser's own microphone processing was on"
    assert user == MIC_TEXT
    assert reply == f"You said: {MIC_TEXT}"
    page.locator(".rw-tr-msg[data-role='user']").filter(has_text=MIC_TEXT).first.wait_for(timeout=10_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "fake-mic-transcript.png"), full_page=True)
