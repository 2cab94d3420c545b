"""The issue's end-to-end test: RealtimeConsole() in JupyterLab 4 and Notebook 7, spoken to by
Chromium's fake microphone, answered by the embedded emulator."""

from __future__ import annotations

import time

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
    # The first answer can be cut by the fake microphone's next loop (a busy page stops late): the
    # words of a finished answer are what must show.
    assistant = page.locator('.rw-tr-msg[data-role="assistant"][data-status="completed"] .rw-tr-text')
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
    answered = [i for i, (status, _, _) in enumerate(state["turns"]) if status == "completed"]
    assert answered and all(status != "pending" for status, _, _ in state["turns"])
    _, samples, transcript = state["turns"][answered[0]]
    assert samples > 0 and transcript
    # the kernel's conversation holds the audio the page was sent
    assert state["deltas"] == sum(n for _, n, _ in state["turns"])
    assert state["lost"] == 0 and state["chunks"] > 10
    assert state["in_browser"] is True  # notebooks take the person's path, not the headless one

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / ("console.png" if frontend == "lab" else f"console-{frontend}.png")
    if frontend == "lab":
        # docs/console.png is a copy of this one: a finished spoken turn, its transcript and spectrogram.
        turn = page.locator(f'.rw-tr-turn[data-turn="{answered[0]}"]')
        turn.locator("button", has_text="spectrogram").click()
        image = turn.locator(".rw-tr-spec img")
        image.wait_for(timeout=30_000)
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
        page.set_viewport_size({"width": 1400, "height": 1500})  # the whole console in view
        page.locator(".rw-console").scroll_into_view_if_needed()
        time.sleep(0.5)
    page.screenshot(path=str(shot), full_page=True)
