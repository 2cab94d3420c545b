"""Push-to-talk: the recorder streams while its button is held, and only then."""

from __future__ import annotations

import time

from browser_harness import KernelProbe, run_all_cells, write_notebook

PUSH = """\
from realtime_widgets import MicRecorder

chunks = []
recorder = MicRecorder(mode="push", chunk_ms=50)
recorder.on_chunk(chunks.append)
recorder
"""


def test_push_to_talk_streams_only_while_held(page, jupyter_server) -> None:
    write_notebook(jupyter_server.root / "push.ipynb", [PUSH])
    jupyter_server.start_kernel_for("push.ipynb")
    page.goto(jupyter_server.lab_url("push.ipynb"))
    run_all_cells(page)
    button = page.get_by_role("button", name="Record")
    button.wait_for(timeout=60_000)
    button.hover()
    page.mouse.down()
    page.get_by_role("button", name="Stop").wait_for()  # held: recording
    time.sleep(1.5)
    page.mouse.up()
    button.wait_for()  # released: back to Record
    probe = KernelProbe(jupyter_server, "push.ipynb")
    try:
        state = probe.wait_for(
            "(lambda n: dict(n=n, sizes=sorted({c.size for c in chunks}), recording=recorder.recording, "
            "lost=recorder.chunks_lost) if n and not recorder.recording else None)(len(chunks))"
        )
        time.sleep(1.0)
        after = probe.value("len(chunks)")
    finally:
        probe.close()
    assert 20 <= state["n"] <= 50, state  # ~1.5 s in 50 ms chunks, nothing before the press
    assert 1200 in state["sizes"] and state["lost"] == 0  # 50 ms at 24 kHz
    assert after == state["n"], "nothing streams after the button is released"
