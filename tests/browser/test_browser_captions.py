"""Live captions from the browser microphone: Record, see the words, Stop, Record again, Clear; both themes."""

from __future__ import annotations

import time

from browser_harness import REPO, KernelProbe, open_notebook, set_theme

ARTIFACTS = REPO / "artifacts"

CAPTIONS = """\
from realtime_widgets import LiveCaptions

captions = LiveCaptions()
captions
"""


def test_live_captions_from_the_microphone(page, jupyter_server) -> None:
    open_notebook(page, jupyter_server, "captions.ipynb", [CAPTIONS])
    record = page.get_by_role("button", name="Record").first
    record.wait_for(timeout=60_000)
    with KernelProbe(jupyter_server, "captions.ipynb") as probe:
        record.click()
        # The fake microphone says a sentence after 1 s of silence; the transcription session's VAD ends the
        # turn and the caption streams in.
        try:
            first = probe.wait_for("captions.lines[0] if captions.lines else None", timeout=90)
        except TimeoutError:
            state = "dict(status=captions.status.value, chunks=captions.recorder.chunks_received, partial=captions.view.partial)"
            raise AssertionError(f"no caption; kernel state {probe.value(state)}") from None
        page.get_by_role("button", name="Stop").first.click()
        record.wait_for()
        assert isinstance(first, str) and first.strip(), first
        # What the kernel has is what the page shows.
        page.get_by_text(first.strip().split()[0], exact=False).first.wait_for(timeout=10_000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "captions-light.png"), full_page=True)
        set_theme(page, "JupyterLab Dark")
        page.screenshot(path=str(ARTIFACTS / "captions-dark.png"), full_page=True)
        set_theme(page, "JupyterLab Light")
        # Record and Stop again at once: no error, and nothing recorded before is lost.
        before = probe.value("len(captions.lines)")
        record.click()
        page.get_by_role("button", name="Stop").first.click()
        record.wait_for()
        time.sleep(1.0)
        state = probe.value("dict(n=len(captions.lines), recording=captions.recorder.recording)")
        assert state["n"] >= before and not state["recording"], state
