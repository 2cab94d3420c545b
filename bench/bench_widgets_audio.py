"""Audio widget latencies in the real-browser setup (JupyterLab + Chromium's fake mic + emulator).

- browser chunk -> kernel: the page stamps each mic chunk when the worklet hands it over; the
  kernel stamps it when MicRecorder's comm handler runs (goal p50 < 10 ms, p99 < 30 ms);
- browser chunk -> websocket: until the session has queued the `input_audio_buffer.append` for
  its websocket sender (the sender writes it on the next loop turn);
- first audio delta in the kernel -> playback scheduled in the page (goal < 50 ms), per reply.

Both ends use the wall clock of the same machine (performance.timeOrigin + now() vs time.time()).
Run: python bench/bench_widgets_audio.py [seconds]   (default 20 s of microphone)
"""

from __future__ import annotations

import sys
import time

import numpy as np
from _harness import CHROMIUM, KernelProbe, lab_with_emulator

SETUP = """\
import time
from types import SimpleNamespace
from ipywidgets import VBox
from realtime_widgets import ConnectionConfig, RealtimeSession, SessionConfig
from realtime_widgets.widgets import AudioPlayer, MicRecorder

# The emulator runs in its own process here: in-kernel, its speech synthesis would stall the
# kernel's loop and be counted as widget latency.
connection = ConnectionConfig.for_emulator(
    SimpleNamespace(endpoint="{endpoint}", deployment="gpt-realtime", api_key="emulator-key")
)
session = RealtimeSession(connection, SessionConfig(silence_duration_ms=300))
await session.connect()
appended = []  # wall-clock ms when each append was queued for the websocket
session.on("input_audio_buffer.append", lambda e: appended.append(time.time() * 1000))
recorder = MicRecorder(); recorder.connect(session)
player = AudioPlayer(); player.connect(session)
VBox([recorder, player])
"""


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def main(seconds: float = 20.0) -> int:
    if not CHROMIUM.exists():
        print(f"skipped: {CHROMIUM} is absent")
        return 0
    with lab_with_emulator("bench.ipynb", SETUP) as (server, page):
        page.get_by_role("button", name="Record").click()
        time.sleep(seconds)
        page.get_by_role("button", name="Stop").click()
        time.sleep(1.0)
        probe = KernelProbe(server, "bench.ipynb")
        data = probe.value(
            "dict(timings=list(recorder.timings), appended=appended, "
            "scheduled=player.schedule_latencies_ms, lost=recorder.chunks_lost)"
        )
        probe.close()

    timings = data["timings"]
    to_kernel = [k - p for _, p, k in timings]
    # One 100 ms browser chunk is one append, in order.
    to_ws = [a - p for (_, p, _), a in zip(timings, data["appended"], strict=False)]
    scheduled = data["scheduled"]
    rows = [
        ("browser chunk -> kernel, p50", 10, _pct(to_kernel, 50)),
        ("browser chunk -> kernel, p99", 30, _pct(to_kernel, 99)),
        ("browser chunk -> websocket queue, p50", 10, _pct(to_ws, 50)),
        ("browser chunk -> websocket queue, p99", 30, _pct(to_ws, 99)),
        ("first delta in kernel -> scheduled in page, p50", 50, _pct(scheduled, 50)),
        (
            "first delta in kernel -> scheduled in page, max",
            50,
            max(scheduled) if scheduled else float("nan"),
        ),
    ]
    worst = sorted(range(len(to_kernel)), key=lambda i: -to_kernel[i])[:5]
    print("slowest chunks (index: ms):", ", ".join(f"{i}: {to_kernel[i]:.0f}" for i in worst))
    print(f"{len(timings)} mic chunks ({data['lost']} lost), {len(scheduled)} replies played")
    print(f"{'measure':52} {'goal ms':>8} {'measured ms':>12}  ok")
    for name, goal, value in rows:
        print(f"{name:52} {goal:>8} {value:>12.1f}  {'yes' if value < goal else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1]) if len(sys.argv) > 1 else 20.0))
