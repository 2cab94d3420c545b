"""The issue's end-to-end test: RealtimeConsole() in JupyterLab 4 and Notebook 7, spoken to by
Chromium's fake microphone, answered by the embedded emulator."""

from __future__ import annotations

import pytest
from browser_harness import REPO, KernelProbe, run_all_cells, write_notebook

ARTIFACTS = REPO / "artifacts"

CONSOLE = """\
from realtime_widgets import RealtimeConsole

console = RealtimeConsole()
# The fake microphone loops its file: stop recording once the server heard the utterance end,
# so the next loop does not barge in on the reply.
console.session.on("input_audio_buffer.speech_stopped", lambda e: setattr(console.recorder, "recording", False))
console
"""

STATE = """dict(
    playing=console.player.playing, played_ms=console.player.played_ms,
    deltas=sum(n for k, n, _ in console.player.history if k == 'delta'),
    chunks=console.recorder.chunks_received, lost=console.recorder.chunks_lost,
    in_browser=console.recorder.in_browser,
    turns=[(t.status, int(t.audio.size), t.transcript) for t in console.session.conversation.turns],
)"""


@pytest.mark.parametrize("frontend", ["lab", "notebook7"])
def test_console_record_hear_reply(frontend, page, jupyter_server) -> None:
    name = f"console_{frontend}.ipynb"
    write_notebook(jupyter_server.root / name, [CONSOLE])
    jupyter_server.start_kernel_for(name)
    if frontend == "lab":
        page.goto(jupyter_server.lab_url(name))
    else:
        page.goto(jupyter_server.tree_url())
        page.get_by_text(name).first.wait_for()  # Notebook 7's file browser lists it
        page.goto(jupyter_server.notebook7_url(name))
    run_all_cells(page)

    page.get_by_role("button", name="Record").click(timeout=60_000)
    rows = page.locator(".rw-ev-type")
    rows.filter(has_text="speech_started").first.wait_for(timeout=30_000)
    rows.filter(has_text="response.done").first.wait_for(timeout=30_000)
    assistant = page.locator('.rw-tr-msg[data-role="assistant"] .rw-tr-text')
    assistant.first.wait_for()

    probe = KernelProbe(jupyter_server, name)
    try:
        state = probe.wait_for(
            f"(lambda s: s if not s['playing'] and s['played_ms'] > 0 else None)({STATE})", timeout=30
        )
    finally:
        probe.close()
    assert assistant.first.inner_text().strip()  # the transcript shows the assistant's words
    assert state["played_ms"] > 500  # the page reports what it played
    status, samples, transcript = state["turns"][0]
    assert status == "completed" and samples > 0 and transcript
    assert state["deltas"] == samples  # the kernel's conversation holds the audio the page played
    assert state["lost"] == 0 and state["chunks"] > 10
    assert state["in_browser"] is True  # notebooks take the person's path, not the headless one

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / ("console.png" if frontend == "lab" else f"console-{frontend}.png")
    page.screenshot(path=str(shot), full_page=True)  # docs/console.png is a copy of a good one
