"""pocketsphinx runs in a worker process, so a kernel hosting the emulator never freezes."""

from __future__ import annotations

import threading
import time

from realtime_widgets.emulator import own_speech, recognizer, synthesize


async def test_recognition_runs_outside_this_process_and_never_blocks_it():
    text = "the quick brown fox jumps over the lazy dog near the river bank"
    speech = synthesize(text, voice="alloy")
    own_speech.forget(text)  # not remembered as its own speech, so pocketsphinx listens
    await recognizer.transcribe_async(speech[:4800])  # the worker has loaded its model
    gaps: list[float] = []
    stop = threading.Event()

    def tick() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            time.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        text = await recognizer.transcribe_async(speech)
    finally:
        stop.set()
        ticker.join()
    assert isinstance(text, str) and text, "pocketsphinx heard words"
    assert recognizer.worker_processes(), "the worker process is alive"
    assert max(gaps) < 0.25, f"this process stalled {max(gaps) * 1000:.0f} ms while decoding"
