"""Kernel-side cost of one 100 ms microphone chunk on the append path.

48 kHz float32 (what a browser AudioWorklet delivers) → PCM16 24 kHz (to_pcm16) → base64 →
JSON `input_audio_buffer.append` text. Prints p50/p99 in µs; goal: p99 < 1 ms.
Run: python bench/bench_client_audio.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import json
import time

import numpy as np

from realtime_widgets.audio import to_base64, to_pcm16

N = 2000


def one_chunk(chunk: np.ndarray) -> str:
    pcm = to_pcm16(chunk, rate=48000)
    return json.dumps({"type": "input_audio_buffer.append", "audio": to_base64(pcm)})


def main() -> None:
    rng = np.random.default_rng(0)
    chunks = [(rng.standard_normal(4800) * 0.1).astype(np.float32) for _ in range(16)]
    for c in chunks:  # warm up imports and caches
        one_chunk(c)
    times = np.empty(N)
    for i in range(N):
        t0 = time.perf_counter()
        one_chunk(chunks[i % len(chunks)])
        times[i] = time.perf_counter() - t0
    p50, p99 = np.percentile(times, [50, 99]) * 1e6
    print(
        f"append path, 100 ms chunk 48k float32 -> 24k int16 + base64 + json: p50 {p50:.0f} us, p99 {p99:.0f} us"
    )
    print(f"goal p99 < 1000 us: {'met' if p99 < 1000 else 'NOT met'}")


if __name__ == "__main__":
    main()
