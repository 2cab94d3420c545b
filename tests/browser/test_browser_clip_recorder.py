"""ClipRecorder on ipywebrtc in JupyterLab: record a clip from the fake microphone, decode it in the kernel."""

from __future__ import annotations

import time

from browser_harness import KernelProbe, run_all_cells, write_notebook

CLIP = """\
from realtime_widgets import ClipRecorder

clip = ClipRecorder()
clip
"""


def test_clip_recorder_records_and_the_kernel_decodes_it(page, jupyter_server) -> None:
    write_notebook(jupyter_server.root / "clip.ipynb", [CLIP])
    jupyter_server.start_kernel_for("clip.ipynb")
    page.goto(jupyter_server.lab_url("clip.ipynb"))
    run_all_cells(page)
    record = page.locator(".widget-play button").first  # ipywebrtc's record / stop toggle
    record.wait_for(timeout=60_000)
    record.click()
    time.sleep(2.5)
    record.click()
    page.get_by_text("Recorded ").first.wait_for(timeout=30_000)  # the label under the button
    probe = KernelProbe(jupyter_server, "clip.ipynb")
    try:
        state = probe.wait_for(
            "(lambda c: dict(seconds=c.size / 24000, dtype=str(c.dtype), "
            "rms=float((c.astype(float) ** 2).mean() ** 0.5), error=clip.error) if c.size else None)(clip.clip)"
        )
    finally:
        probe.close()
    assert state["error"] == "" and state["dtype"] == "int16"
    assert 1.5 < state["seconds"] < 6.0  # about the 2.5 s recorded, decoded at 24 kHz
    assert state["rms"] > 100  # the fake microphone's speech, not silence
