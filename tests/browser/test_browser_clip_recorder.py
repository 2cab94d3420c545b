"""ClipRecorder in JupyterLab: record a clip from the fake microphone with the browser's MediaRecorder,
decode it in the kernel; its front end loads with the widget, and no extension warns on the page."""

from __future__ import annotations

import time

from browser_harness import REPO, KernelProbe, run_all_cells, write_notebook

ARTIFACTS = REPO / "artifacts"

CLIP = """\
from realtime_widgets import ClipRecorder

clip = ClipRecorder()
clip
"""


def test_clip_recorder_records_and_the_kernel_decodes_it(page, jupyter_server) -> None:
    console: list[str] = []
    page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
    write_notebook(jupyter_server.root / "clip.ipynb", [CLIP])
    jupyter_server.start_kernel_for("clip.ipynb")
    page.goto(jupyter_server.lab_url("clip.ipynb"))
    run_all_cells(page)
    record = page.get_by_role("button", name="● Record clip")
    record.wait_for(timeout=60_000)
    record.click()
    stop = page.get_by_role("button", name="■ Stop")
    stop.wait_for()
    page.get_by_text("Recording…").first.wait_for(timeout=10_000)
    time.sleep(2.5)
    stop.click()
    page.get_by_text("Recorded ").first.wait_for(timeout=30_000)  # the line beside the button
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(".rw-clip").screenshot(path=str(ARTIFACTS / "clip-recorder.png"))
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
    # ipywebrtc's JupyterLab extension warned on every page about its @jupyter-widgets/base range.
    unsatisfied = [
        line for line in console if "Unsatisfied version" in line and "jupyter-widgets/base" in line
    ]
    assert unsatisfied == [], unsatisfied
