"""Speech the emulator synthesized itself, recognised exactly when the same samples come back.

A clip made with `synthesize()` and sent back unchanged (a tutorial's spoken question, a reply
saved as WAV and sent as input) is transcribed with the text it was made from, at once and
without pocketsphinx. Anything else — a microphone, a lossy file, resampled audio — does not
match byte for byte and goes to the real recognizer.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

_MAX_UTTERANCES = 128
_PROBE_SAMPLES = 2400  # 100 ms at 24 kHz: long enough to be unique, short enough to search fast
_ONSET_LEVEL = 500

_lock = threading.Lock()
_utterances: OrderedDict[bytes, str] = OrderedDict()


def _probe(samples: np.ndarray) -> bytes | None:
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > _ONSET_LEVEL)
    if loud.size == 0 or samples.size - loud[0] < _PROBE_SAMPLES:
        return None
    start = int(loud[0])
    return samples[start : start + _PROBE_SAMPLES].astype("<i2").tobytes()


def remember(samples: np.ndarray, text: str) -> None:
    """Note that `samples` (int16 at 24 kHz) say `text`."""
    probe = _probe(samples)
    if probe is None or not text.strip():
        return
    with _lock:
        _utterances[probe] = " ".join(text.split())
        _utterances.move_to_end(probe)
        while len(_utterances) > _MAX_UTTERANCES:
            _utterances.popitem(last=False)


def recall(samples: np.ndarray) -> str | None:
    """The texts of remembered utterances found in `samples`, in order of appearance, or None."""
    haystack = np.ascontiguousarray(samples, dtype="<i2").tobytes()
    with _lock:
        candidates = list(_utterances.items())
    found: list[tuple[int, str]] = []
    for probe, text in reversed(candidates):
        at = haystack.find(probe)
        while at != -1 and at % 2:  # a match must start on a sample boundary
            at = haystack.find(probe, at + 1)
        if at != -1:
            found.append((at, text))
    if not found:
        return None
    return " ".join(text for _, text in sorted(found))
