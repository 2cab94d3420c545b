"""The emulator's own-speech fingerprints: lookup time and memory with 1,000 remembered utterances.

    python bench/bench_own_speech.py [--utterances 1000]

Synthesizes the utterances (each is remembered as it is made, as in a long session), then looks up
a 5-second clip of known speech after an MP3 round trip, and one of unknown speech. Figures are
printed next to their goals; nothing is asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from realtime_widgets.emulator import own_speech, synthesize  # noqa: E402
from realtime_widgets.emulator.audio_io import decode, encode  # noqa: E402
from realtime_widgets.emulator.voice import VOICE_MAP  # noqa: E402

WORDS = (
    "the a red blue green kite river house runs slowly quickly over under near far bright dark city "
    "morning evening music piano weather rain sun tomorrow question answer window garden"
).split()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--utterances", type=int, default=1000)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    voices = list(VOICE_MAP)
    started = time.perf_counter()
    seconds = 0.0
    for i in range(args.utterances):
        words = " ".join(rng.choice(WORDS, int(rng.integers(4, 14))))
        seconds += synthesize(f"{words} number {i}", voice=voices[i % len(voices)]).size / 24_000
    made = time.perf_counter() - started
    known_text = "Will it rain in Seattle tomorrow afternoon? And is the piano in the garden bright this morning, or dark?"
    known = decode(encode(synthesize(known_text, "alloy"), "mp3"), "mp3")
    unknown_text = "Will it snow in Boston tomorrow afternoon? And is the piano in the garden dark this evening, or bright?"
    unknown = decode(encode(synthesize(unknown_text, "alloy"), "mp3"), "mp3")
    own_speech.forget(unknown_text)  # the same voice and words like the known one's, never remembered
    times: dict[str, list[float]] = {"known": [], "unknown": []}
    for _ in range(30):
        for name, clip in (("known", known), ("unknown", unknown)):
            t = time.perf_counter()
            got = own_speech.recall(clip)
            times[name].append(time.perf_counter() - t)
            if (got == known_text) != (name == "known") or (name == "unknown" and got is not None):
                raise SystemExit(f"wrong answer for the {name} clip: {got!r}")
    memory = own_speech._memory
    kept = list(memory.utterances.values())
    nbytes = sum(u.hashes.nbytes + u.times.nbytes + u.spectra.nbytes + u.loud.nbytes for u in kept)
    main_index = memory.indexes()[0]
    nbytes += main_index.hashes.nbytes + main_index.times.nbytes + main_index.owners.nbytes
    print(f"remembered: {own_speech.remembered()} utterances, {seconds / 60:.1f} min of speech")
    print(f"synthesize + remember: {made / args.utterances * 1000:.1f} ms per utterance")
    print(f"fingerprints and index: {nbytes / 1e6:.1f} MB (bounded: {own_speech.MAX_UTTERANCES} utterances)")
    for name, values in times.items():
        ms = np.array(values) * 1000
        print(
            f"lookup of a {known.size / 24_000:.1f} s clip ({name}, MP3 round trip): "
            f"p50 {np.percentile(ms, 50):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms   goal < 20 ms"
        )
    speech = synthesize(known_text, "echo")
    t = time.perf_counter()
    own_speech._fingerprint(speech, known_text, 24_000)  # what the background thread does per clip
    print(
        f"fingerprint of a {speech.size / 24_000:.1f} s utterance: {(time.perf_counter() - t) * 1000:.1f} ms"
    )
    t = time.perf_counter()
    memory._main = type(memory._main)(kept)
    print(
        f"rebuilding the large index (every {own_speech._FRESH_LIMIT} new utterances): "
        f"{(time.perf_counter() - t) * 1000:.0f} ms, off the event loop"
    )


if __name__ == "__main__":
    main()
