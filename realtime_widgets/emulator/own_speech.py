"""Speech the emulator synthesized itself, recognised by its sound rather than its bytes.

Every clip `synthesize()` makes is remembered with its text. When audio comes back (a tutorial's
spoken question, a saved reply, a fake microphone) it may have been resampled, made louder or
quieter, sent through G.711, MP3 or Opus, or through the browser's microphone path (48 kHz,
automatic gain, noise suppression); the samples differ, the sound does not.

Two steps, as in audio fingerprinting (Wang 2003, "An industrial-strength audio search
algorithm"): pairs of spectral peaks hashed with their frequency gap and time gap vote for
(utterance, time offset) candidates, found in a sorted index; then each candidate is checked frame
by frame, on gain-free log spectra below 3.5 kHz (what survives telephone codecs), and accepted
only if every 200 ms of it matches. A clip is transcribed only when remembered utterances explain
all of its speech; otherwise `recall` returns None and the real recognizer listens.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass

import numpy as np
import scipy.fft
from scipy.ndimage import maximum_filter
from scipy.signal import firwin, resample_poly

_RATE = 8000  # everything is compared at telephone rate: G.711 keeps nothing above 4 kHz
_WINDOW = 256  # 32 ms
_HOP = 80  # 10 ms: one frame
_HANN = np.hanning(_WINDOW).astype(np.float32)
_LOW_BIN, _HIGH_BIN = 4, 112  # 125 Hz to 3.5 kHz
_BANDS = 27  # verification bands: 4 FFT bins (125 Hz) each
_PEAK_SHAPE = (7, 9)  # a peak is the maximum of 70 ms x 280 Hz around it
_PEAK_FLOOR_DB = 35.0  # peaks within this of the loudest frame's peak, so noise makes none
_FAN_OUT = 4  # each peak pairs with the next few peaks ahead of it
_MAX_DT = 24  # frames between paired peaks
_MAX_DF = 31  # bins between paired peaks
_SPEECH_DB = 25.0  # a frame is speech within this of the clip's loud frames
_SPECTRUM_RANGE_DB = 30.0  # each frame's spectrum compared down to this far below its own peak
_BLOCK = 20  # frames per verified block (200 ms)
# Every 200 ms block of a match must correlate at least this well: measured >= 0.97 after MP3 and
# 30 dB noise, <= 0.70 where one word changed ("what time was it" for "what time is it").
_BLOCK_SCORE = 0.8
_MEAN_SCORE = 0.9  # and the match as a whole at least this well
_MIN_VOTES = 6
_CANDIDATES = 24  # best-voted (utterance, offset) pairs verified per clip (a reply is several slices)
_UNEXPLAINED_FRAMES = 15  # 150 ms of speech outside every match: someone else spoke

MAX_UTTERANCES = 1024
_FRESH_LIMIT = 64  # utterances in the small index before both are merged
_BACKLOG_SECONDS = 120.0  # audio waiting for fingerprints (5.8 MB) before `remember` makes them itself
MAX_FRAMES = 540_000  # 90 minutes of remembered speech in all (about 20 MB with the index)


@dataclass(frozen=True)
class _Utterance:
    key: bytes  # digest of the samples and text: the same clip remembered twice is one entry
    text: str
    hashes: np.ndarray  # uint32, one per peak pair
    times: np.ndarray  # int32, frame of each pair's first peak
    frames: int  # its length
    loud: np.ndarray  # int32 indices of the frames a match is judged on (its louder ones)
    spectra: np.ndarray  # int8 loud frames x bands: gain-free log spectra (see _shapes) times 127


@dataclass(frozen=True)
class _Features:
    hashes: np.ndarray
    times: np.ndarray
    spectra: np.ndarray
    level: np.ndarray  # dB per frame


def _frames_db(samples: np.ndarray, rate: int) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float32)
    if rate != _RATE:
        g = np.gcd(int(rate), _RATE)
        up, down = _RATE // g, int(rate) // g
        x = resample_poly(x, up, down, window=_antialias(max(up, down))).astype(np.float32)
    if x.size < _WINDOW:
        return np.zeros((0, _HIGH_BIN - _LOW_BIN), np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(x, _WINDOW)[::_HOP]
    spectrum = np.abs(scipy.fft.rfft(frames * _HANN, axis=1))
    return (20 * np.log10(spectrum[:, _LOW_BIN:_HIGH_BIN] + 1e-3)).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _antialias(factor: int) -> np.ndarray:
    """The low-pass filter `resample_poly` would design for this factor, designed once."""
    return firwin(20 * factor + 1, 1.0 / factor, window=("kaiser", 5.0))


def _shapes(db: np.ndarray) -> np.ndarray:
    """Each frame's spectrum in bands, floored below its own peak and centred: gain does not matter."""
    bands = db[:, : _BANDS * 4].reshape(len(db), _BANDS, 4).max(axis=2)
    bands = np.maximum(bands, bands.max(axis=1, keepdims=True) - _SPECTRUM_RANGE_DB)
    bands -= bands.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(bands, axis=1, keepdims=True)
    return (bands / np.maximum(norm, 1e-6)).astype(np.float32)


def _features(samples: np.ndarray, rate: int) -> _Features:
    db = _frames_db(samples, rate)
    level = db.max(axis=1) if len(db) else np.zeros(0, np.float32)
    if len(db) < 2:
        empty = np.zeros(0, np.int64)
        return _Features(empty.astype(np.uint32), empty.astype(np.int32), _shapes(db), level)
    loudest = float(np.percentile(level, 99))
    peaks = (maximum_filter(db, size=_PEAK_SHAPE, mode="constant", cval=-1e9) == db) & (
        db > loudest - _PEAK_FLOOR_DB
    )
    t, f = np.nonzero(peaks)  # sorted by time
    hashes: list[np.ndarray] = []
    times: list[np.ndarray] = []
    for step in range(1, _FAN_OUT + 1):
        dt, df = t[step:] - t[:-step], f[step:] - f[:-step]
        ok = (dt > 0) & (dt <= _MAX_DT) & (np.abs(df) <= _MAX_DF)
        hashes.append((f[:-step][ok] << 11) | ((df[ok] + _MAX_DF) << 5) | dt[ok])
        times.append(t[:-step][ok])
    return _Features(
        np.concatenate(hashes).astype(np.uint32),
        np.concatenate(times).astype(np.int32),
        _shapes(db),
        level,
    )


class _Index:
    """Pair hashes sorted for `searchsorted`, each with its first peak's frame and its utterance."""

    def __init__(self, utterances: list[_Utterance]) -> None:
        hashes = np.concatenate([u.hashes for u in utterances]) if utterances else np.zeros(0, np.uint32)
        times = np.concatenate([u.times for u in utterances]) if utterances else np.zeros(0, np.int32)
        owners = np.repeat(np.arange(len(utterances), dtype=np.int32), [len(u.hashes) for u in utterances])
        order = np.argsort(hashes, kind="stable")
        self.hashes, self.times, self.owners = hashes[order], times[order], owners[order]
        self.utterances = utterances

    def votes(self, features: _Features) -> list[tuple[int, _Utterance, int]]:
        """(votes, utterance, frame offset in the clip) for pairs found in both, best first."""
        lo = np.searchsorted(self.hashes, features.hashes, side="left")
        counts = np.searchsorted(self.hashes, features.hashes, side="right") - lo
        if counts.sum() == 0:
            return []
        clip_pair = np.repeat(np.arange(len(lo)), counts)
        rows = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        offsets = features.times[clip_pair].astype(np.int64) - self.times[rows]
        keys = self.owners[rows].astype(np.int64) * (1 << 20) + (offsets + (1 << 19))
        unique, votes = np.unique(keys, return_counts=True)
        best = np.argsort(votes)[::-1][: _CANDIDATES * 3]
        return [
            (int(votes[k]), self.utterances[int(unique[k] >> 20)], int(unique[k] % (1 << 20)) - (1 << 19))
            for k in best
            if votes[k] >= _MIN_VOTES
        ]


class _Memory:
    """A bounded LRU of utterances, indexed in two tiers: a large sorted index rebuilt rarely, and
    a small one over the utterances added since, rebuilt on the next lookup (cheap)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.utterances: OrderedDict[bytes, _Utterance] = OrderedDict()
        self.frames = 0
        self._main = _Index([])
        self._fresh: list[_Utterance] = []
        self._fresh_index: _Index | None = None
        self._removed = 0  # utterances dropped since the large index was built: it skips them

    def holds(self, utterance: _Utterance) -> bool:
        return self.utterances.get(utterance.key) is utterance

    def add(self, utterance: _Utterance) -> None:
        with self.lock:
            old = self.utterances.pop(utterance.key, None)
            if old is not None:
                self.frames -= old.frames
                self._removed += 1
            self.utterances[utterance.key] = utterance
            self.frames += utterance.frames
            while len(self.utterances) > MAX_UTTERANCES or (
                self.frames > MAX_FRAMES and len(self.utterances) > 1
            ):
                _, evicted = self.utterances.popitem(last=False)
                self.frames -= evicted.frames
                self._removed += 1
            self._fresh.append(utterance)
            self._fresh_index = None

    def indexes(self) -> tuple[_Index, _Index]:
        """Both tiers; they may still name utterances dropped since (check with `holds`)."""
        with self.lock:
            if (
                len(self._fresh) > _FRESH_LIMIT
                or self._removed > len(self._main.utterances) // 4 + _FRESH_LIMIT
            ):
                self._main, self._fresh, self._fresh_index = _Index(list(self.utterances.values())), [], None
                self._removed = 0
            if self._fresh_index is None:
                self._fresh_index = _Index([u for u in self._fresh if self.holds(u)])
            return self._main, self._fresh_index

    def used(self, utterances: list[_Utterance]) -> None:
        """Recognised just now: the last to be evicted."""
        with self.lock:
            for u in utterances:
                if self.utterances.get(u.key) is u:
                    self.utterances.move_to_end(u.key)

    def forget(self, text: str | None) -> None:
        """Drop the utterances saying `text` or part of it (None: all); the indexes skip them from now on."""
        with self.lock:
            for key in [k for k, u in self.utterances.items() if text is None or u.text in text]:
                self.frames -= self.utterances.pop(key).frames
                self._removed += 1
            self._fresh_index = None


_memory = _Memory()


class _Backlog:
    """Clips waiting for their fingerprints. A thread of its own makes them, so synthesis never
    waits; a lookup first finishes what is left, so it knows every clip remembered before it.
    One maker at a time, oldest first: the LRU's order is the order clips were remembered in."""

    def __init__(self) -> None:
        self._clips: deque[tuple[np.ndarray, str, int]] = deque()
        self._seconds = 0.0  # of audio waiting
        self._waiting = threading.Condition()
        self._making = threading.Lock()
        self._thread: threading.Thread | None = None

    def put(self, samples: np.ndarray, text: str, rate: int) -> None:
        with self._waiting:
            self._clips.append((samples, text, rate))
            self._seconds += len(samples) / rate
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="emulator-own-speech", daemon=True)
                self._thread.start()
            self._waiting.notify()
            behind = self._seconds > _BACKLOG_SECONDS
        if behind:
            self.finish()  # the thread is starved: the caller catches up, memory stays bounded

    def _run(self) -> None:
        # Normal priority: a niced thread starved on a busy machine would keep the clips' audio.
        while True:
            with self._waiting:
                self._waiting.wait_for(lambda: bool(self._clips))
            with self._making:
                self._make_next()

    def _make_next(self) -> bool:
        with self._waiting:
            if not self._clips:
                return False
            clip = self._clips.popleft()
            self._seconds -= len(clip[0]) / clip[2]
        _fingerprint(*clip)
        return True

    def finish(self) -> None:
        """Every clip remembered so far fingerprinted (the rest made in this thread)."""
        with self._making:
            while self._make_next():
                pass


_backlog = _Backlog()


def remember(samples: np.ndarray, text: str, rate: int = 24_000) -> None:
    """Note that `samples` (PCM16 at `rate`) say `text`; the fingerprint is made in the background."""
    text = " ".join(text.split())
    if text and len(samples):
        _backlog.put(samples, text, rate)


def _fingerprint(samples: np.ndarray, text: str, rate: int) -> None:
    features = _features(samples, rate)
    if len(features.level) == 0 or len(features.hashes) == 0:
        return
    loud = features.level > float(np.percentile(features.level, 99)) - _SPEECH_DB
    first, last = np.flatnonzero(loud)[[0, -1]]
    span = slice(int(first), int(last) + 1)  # eSpeak's leading and trailing silence dropped
    keep = (features.times >= span.start) & (features.times < span.stop)
    utterance = _Utterance(
        key=hashlib.blake2b(np.ascontiguousarray(samples).tobytes() + text.encode(), digest_size=16).digest(),
        text=text,
        hashes=features.hashes[keep],
        times=features.times[keep] - span.start,
        frames=span.stop - span.start,
        loud=np.flatnonzero(loud[span]).astype(np.int32),
        spectra=np.round(features.spectra[span][loud[span]] * 127).astype(np.int8),
    )
    _memory.add(utterance)


def forget(text: str | None = None) -> None:
    """Forget the speech saying `text` (each slice of it), or all speech (None): the real recognizer
    hears it from now on."""
    _backlog.finish()
    _memory.forget(None if text is None else " ".join(text.split()))


def remembered() -> int:
    """How many utterances are remembered (at most MAX_UTTERANCES)."""
    _backlog.finish()
    return len(_memory.utterances)


def _verify(utterance: _Utterance, spectra: np.ndarray, offset: int) -> float | None:
    """The match's mean score when the utterance lies in `spectra` at `offset`, else None."""
    if offset < 0 or offset + utterance.frames > len(spectra) or len(utterance.loud) == 0:
        return None
    judged = (
        np.einsum("ij,ij->i", utterance.spectra.astype(np.float32), spectra[offset + utterance.loud]) / 127
    )
    starts = np.arange(0, judged.size, _BLOCK)
    if len(starts) > 1 and judged.size - starts[-1] < _BLOCK // 2:
        starts = starts[:-1]  # a short last block joins the one before
    sizes = np.diff(np.append(starts, judged.size))
    if float((np.add.reduceat(judged, starts) / sizes).min()) < _BLOCK_SCORE:
        return None
    mean = float(judged.mean())
    return mean if mean >= _MEAN_SCORE else None


def recall(samples: np.ndarray, rate: int = 24_000) -> str | None:
    """The texts of remembered utterances that make up all the speech in `samples`, or None."""
    features = _features(samples, rate)
    if len(features.hashes) == 0:
        return None
    _backlog.finish()
    main, fresh = _memory.indexes()
    candidates = sorted(main.votes(features) + fresh.votes(features), key=lambda c: -c[0])
    matches: list[tuple[int, int, _Utterance]] = []  # (start frame, length, utterance)
    tried: list[tuple[int, int]] = []  # (utterance id, offset)
    for _, utterance, offset in candidates:
        if len(tried) >= _CANDIDATES:
            break
        if not _memory.holds(utterance) or any(u == id(utterance) and abs(o - offset) <= 1 for u, o in tried):
            continue  # evicted, or a neighbour of an offset already tried
        tried.append((id(utterance), offset))
        scored = [
            (score, at)
            for at in (offset - 1, offset, offset + 1)
            if (score := _verify(utterance, features.spectra, at))
        ]
        if scored:
            matches.append((max(scored)[1], utterance.frames, utterance))
    if not matches:
        return None
    chosen: list[tuple[int, int, _Utterance]] = []
    for start, length, utterance in sorted(matches, key=lambda m: -m[1]):  # longer utterances first
        if all(start + length <= s or s + n <= start for s, n, _ in chosen):
            chosen.append((start, length, utterance))
    speech = features.level > float(np.percentile(features.level, 99)) - _SPEECH_DB
    for start, length, _ in chosen:
        speech[max(0, start - 10) : start + length + 10] = False
    if _longest_run(speech) >= _UNEXPLAINED_FRAMES:
        return None
    _memory.used([u for _, _, u in chosen])
    return " ".join(u.text for _, _, u in sorted(chosen, key=lambda m: m[0]))


def _longest_run(mask: np.ndarray) -> int:
    if not mask.any():
        return 0
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())
