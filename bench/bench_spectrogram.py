"""plot_spectrogram's STFT on 60 s of audio vs scipy.signal.ShortTimeFFT with the same parameters.

Both measured in this run; prints the times and their ratio (goal: within 1.5x), plus the time
of the whole figure (STFT + drawing + PNG render) for reference.
Run: python bench/bench_spectrogram.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import time

import numpy as np
from scipy.signal import ShortTimeFFT
from scipy.signal.windows import hann

from realtime_widgets.plots import HOP, NPERSEG, plot_spectrogram, spectrogram_db

RATE = 24000
REPEAT = 5


def best_of(fn) -> float:
    best = float("inf")
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal(RATE * 60) * 4000).astype(np.int16)
    floats = audio.astype(np.float32) / 32768.0
    sft = ShortTimeFFT(hann(NPERSEG, sym=False), hop=HOP, fs=RATE, scale_to="magnitude")
    ours = best_of(lambda: spectrogram_db(audio, RATE))
    reference = best_of(lambda: sft.spectrogram(floats))
    print(
        f"60 s @ 24 kHz, nperseg {NPERSEG}, hop {HOP}: spectrogram_db {ours * 1e3:.0f} ms, "
        f"ShortTimeFFT.spectrogram {reference * 1e3:.0f} ms, ratio {ours / reference:.2f}x "
        f"(goal <= 1.5x: {'met' if ours / reference <= 1.5 else 'NOT met'})"
    )
    t0 = time.perf_counter()
    fig = plot_spectrogram(audio, RATE)
    fig._repr_png_()
    print(f"whole figure incl. PNG render: {(time.perf_counter() - t0) * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
