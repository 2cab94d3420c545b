"""Where each word of an assistant transcript is spoken in the turn's audio.

A transcript delta only says how much audio had *arrived* when its text came, which is not where the
word is spoken (the emulator's chunks put a word up to 250 ms early; the service's text runs 100-600
ms ahead of its audio). So the words are aligned to the audio itself:

1. the short-time energy (20 ms frames, 5 ms hop) marks pauses (runs of near-silence) and dips
   (energy valleys between syllables); each is a candidate word onset, a pause's end the strongest;
2. each word expects a share of the speaking time (pauses excluded) by its letters (`spoken_weight`);
3. a dynamic programme picks one onset per word, in order, minimising the squared log-ratio of each
   word's speaking time to its share, plus penalties for weak dips (growing smoothly from 0 at a
   15 dB valley to the full cost at the candidate threshold), for a word that follows punctuation
   without a pause, for a word that spans a pause, and for an onset before the word's arrival anchor
   (text arrives no later than its audio: see docs/emulator-fidelity.md);
4. a second pass also penalises (softly) an onset later than the anchor plus the lead of the text
   this turn shows (Tukey's upper fence of the first pass's onsets past their anchors; a lead that
   grows along the turn is fitted as a line), which stops a run of words drifting late without
   pulling words that already sit on their sound. Anchors shared by many words (text that came in
   a burst) bound nothing.

Every choice above is a cost that changes continuously with the audio, so that eSpeak's re-synthesis
(a few samples different each time) gives the same word times within a frame or two; see
tests/client/test_alignment.py's perturbation test.

Without audio (or when the transcript does not match the deltas) the words fall back to their anchors
or to an even spread by length.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["WordTime", "align_words", "anchored_words"]

FRAME_S = 0.020
HOP_S = 0.005
SILENCE_DB = -34.0  # below the turn's loudest frame: near-silence
MIN_PAUSE_S = 0.060  # a shorter quiet run is a stop consonant's closure, not a pause
MIN_DIP_DB = 3.0  # a valley this deep (prominence) is an onset candidate
ANCHOR_SLACK_S = 0.03
LATE_SLACK_S = 0.05
LEAD_PERCENTILE = 75
FENCE_IQR = 1.5  # Tukey's fence: only onsets this far past the lead's quartiles are late
MIN_ANCHOR_SPAN_S = 0.5  # anchors closer together than this carry no timing
MAX_WORDS_PER_ANCHOR = 3  # more on one anchor: the text came in a burst, its anchor says little
MID_PAUSE_COST = 0.3  # an onset after a pause where no punctuation calls for one
PAUSE_INSIDE_COST = 0.5  # per pause a word would span: words are not paused inside
FINAL_LENGTHENING = 1.3  # a phrase-final word is said more slowly
MAX_WORD_S = 2.5  # speaking time of the longest word considered
DURATION_COST = 4.0  # per squared log-ratio of a word's speaking time to its share
WEAK_DIP_COST = 0.5  # for an onset at the shallowest dip (0 at a pause or a 15 dB valley)
LATE_SCALE_S = 0.10  # an onset this far past its late bound costs 1: soft, a bound is only an estimate
_PUNCTUATION = tuple(",.;:!?…—")
_CONSONANTS = re.compile(r"[bcdfghjklmnpqrstvwxz]")
_FUNCTION_WORDS = frozenset(
    "a an the of to in on at by for from with and or but is it its as be are was my me i you your we "
    "our he she his her they them this that".split()
)


@dataclass(frozen=True)
class WordTime:
    """A word and where it starts in the turn's audio (seconds); `anchor_s`: where the audio stood
    when its text arrived (None without deltas)."""

    word: str
    start_s: float
    anchor_s: float | None = None


def anchored_words(deltas: Sequence[Sequence[Any]]) -> list[tuple[str, float]]:
    """Words of `(arrival_s, text, audio_position_s)` deltas, each with the position of the delta
    where it starts."""
    words: list[tuple[str, float]] = []
    current, start = "", 0.0
    for delta in deltas:
        text, position = str(delta[1]), float(delta[2])
        for i, piece in enumerate(text.split(" ")):
            if i > 0 or (not current and piece):
                # A space (or the very first text) starts a new word at this delta's position.
                if current.strip():
                    words.append((current.strip(), start))
                current, start = piece, position
            else:
                current += piece
    if current.strip():
        words.append((current.strip(), start))
    return words


def spoken_weight(word: str) -> float:
    """How long a word takes to say, relative to others (seconds at a typical pace).

    Fitted on eSpeak's word timings: a constant per word plus a share per consonant and per vowel
    letter; short function words are said quickly, digits are read as a word each.
    """
    letters = re.sub(r"[^a-z]", "", word.lower())
    consonants = len(_CONSONANTS.findall(letters))
    vowels = len(letters) - consonants
    digits = sum(c.isdigit() for c in word)
    weight = 0.155 + 0.043 * consonants + 0.033 * vowels + 0.25 * digits
    if letters in _FUNCTION_WORDS:
        weight -= 0.10
    return max(0.05, weight)


def align_words(
    audio: np.ndarray | None,
    rate: int,
    deltas: Sequence[Sequence[Any]] = (),
    transcript: str = "",
    *,
    partial: bool = False,
) -> list[WordTime]:
    """The words of `transcript` (or of the deltas) with where each is spoken in `audio`.

    `partial`: the audio holds only the first words (a WebRTC reply cut short: what was never played
    never reached the kernel); as many words as its speaking time holds at `spoken_weight`'s pace are
    aligned, the others placed at its end."""
    pieces = anchored_words(deltas)
    words = transcript.split() if transcript.strip() else [w for w, _ in pieces]
    if not words:
        return []
    anchors: list[float | None]
    if [w for w, _ in pieces] == words:
        anchors = [a for _, a in pieces]
    else:  # the final transcript differs from the deltas: their anchors do not apply
        anchors = [None] * len(words)
    samples = np.asarray(audio if audio is not None else [], dtype=np.float32).reshape(-1)
    duration = len(samples) / rate if rate > 0 else 0.0
    if duration < 2 * FRAME_S:
        return _fallback(words, anchors, duration)
    # Words whose text came after the last audio (a cancelled response) are not in the audio at all.
    spoken = len(words)
    while spoken > 1 and (anchor := anchors[spoken - 1]) is not None and anchor >= duration - HOP_S:
        spoken -= 1
    envelope = _Envelope(samples, rate)
    if partial:
        expected_starts = np.cumsum([0.0] + [spoken_weight(w) for w in words[: spoken - 1]])
        spoken = max(1, int(np.count_nonzero(expected_starts < envelope.speech_s)))
    beyond = [
        WordTime(w, float(a or duration), a) for w, a in zip(words[spoken:], anchors[spoken:], strict=True)
    ]
    words, anchors = words[:spoken], anchors[:spoken]
    if envelope.speech_s <= 0:
        return _fallback(words, anchors, duration) + beyond
    starts = _best_onsets(envelope, words, anchors, [None] * len(words))
    latest = _latest_onsets(anchors, starts)
    if any(x is not None for x in latest):
        starts = _best_onsets(envelope, words, anchors, latest)
    return [WordTime(w, s, a) for w, s, a in zip(words, starts, anchors, strict=True)] + beyond


def _fallback(words: list[str], anchors: list[float | None], duration: float) -> list[WordTime]:
    if all(a is not None for a in anchors):
        return [WordTime(w, float(a or 0.0), a) for w, a in zip(words, anchors, strict=True)]
    weights = np.array([spoken_weight(w) for w in words])
    starts = np.concatenate([[0.0], np.cumsum(weights)[:-1]]) / weights.sum() * max(duration, 0.0)
    return [WordTime(w, float(s), a) for w, s, a in zip(words, starts, anchors, strict=True)]


def _dip_strength(prominence: float) -> float:
    """0 at the candidate threshold, 1 at a 15 dB valley: a dip that barely passes (and may not, in a
    re-synthesis a few samples different) is as good as absent, so its coming and going changes little."""
    return float(np.clip((prominence - MIN_DIP_DB) / (15.0 - MIN_DIP_DB), 0.0, 1.0))


class _Envelope:
    """Frame energies in dB below the peak, the onset candidates and the speaking-time clock."""

    def __init__(self, samples: np.ndarray, rate: int) -> None:
        from scipy.signal import find_peaks

        frame, hop = max(1, round(FRAME_S * rate)), max(1, round(HOP_S * rate))
        power = np.concatenate([[0.0], np.cumsum(samples.astype(np.float64) ** 2)])
        starts = np.arange(0, max(1, len(samples) - frame + 1), hop)
        energy = (power[np.minimum(starts + frame, len(samples))] - power[starts]) / frame
        db = 10 * np.log10(energy + 1e-12)
        db -= db.max()
        self.times = (starts + frame / 2) / rate
        quiet = db < SILENCE_DB
        pause = np.zeros_like(quiet)
        onsets: list[tuple[int, float, bool]] = []  # (frame, strength 0..1, after a pause)
        run_start = None
        for f, q in enumerate(np.append(quiet, False)):
            if q and run_start is None:
                run_start = f
            elif not q and run_start is not None:
                if (f - run_start) * HOP_S >= MIN_PAUSE_S or run_start == 0:
                    pause[run_start:f] = True
                    if f < len(db):
                        onsets.append((f, 1.0, run_start > 0))
                run_start = None
        if not quiet[0]:
            onsets.append((0, 1.0, False))
        dips, props = find_peaks(-db, prominence=MIN_DIP_DB)
        for f, prominence in zip(dips, props["prominences"], strict=True):
            if not pause[f]:
                onsets.append((int(f), _dip_strength(float(prominence)), False))
        onsets.sort()
        self.frames = np.array([f for f, _, _ in onsets], dtype=int)
        self.strength = np.array([s for _, s, _ in onsets])
        self.after_pause = np.array([p for _, _, p in onsets], dtype=bool)
        # speaking time at each frame: pauses do not count
        self.clock = np.concatenate([[0.0], np.cumsum(~pause[:-1])]) * HOP_S
        speaking = np.flatnonzero(~pause)
        self.end_clock = float(self.clock[speaking[-1]] + HOP_S) if speaking.size else 0.0
        self.speech_s = self.end_clock - (float(self.clock[speaking[0]]) if speaking.size else 0.0)


def _latest_onsets(anchors: list[float | None], first_pass: list[float]) -> list[float | None]:
    """How late each word may start, from how this turn's first-pass onsets follow their anchors
    (None: not bounded)."""
    from collections import Counter

    from scipy.stats import theilslopes

    shared = Counter(a for a in anchors if a is not None)
    # More words on one anchor than a delta's audio can hold: the text came in a burst there.
    tracking = [a is not None and shared[a] <= MAX_WORDS_PER_ANCHOR for a in anchors]
    pairs = np.array([(a, s) for a, s, ok in zip(anchors, first_pass, tracking, strict=True) if ok])
    if len(pairs) < 3 or np.ptp(pairs[:, 0]) < max(MIN_ANCHOR_SPAN_S, 0.3 * np.ptp(first_pass)):
        return [None] * len(anchors)
    # The audio keeps pace with the text (slope 1: a constant lead) unless the turn clearly shows
    # the text running further ahead as it goes (the slope's 95% interval above 1).
    slope, intercept, low, _ = theilslopes(pairs[:, 1], pairs[:, 0])
    if low <= 1.05:
        slope, intercept = 1.0, 0.0
    residuals = pairs[:, 1] - (intercept + slope * pairs[:, 0])
    low_q, high_q = np.percentile(residuals, [100 - LEAD_PERCENTILE, LEAD_PERCENTILE])
    margin = max(0.0, float(high_q + FENCE_IQR * (high_q - low_q)))
    return [
        float(intercept + slope * a) + margin + LATE_SLACK_S if ok and a is not None else None
        for a, ok in zip(anchors, tracking, strict=True)
    ]


def _best_onsets(
    env: _Envelope, words: list[str], earliest: list[float | None], latest: list[float | None]
) -> list[float]:
    """One candidate onset per word, in order, by dynamic programming (see the module's doc)."""
    n, m = len(words), len(env.frames)
    times = env.times[env.frames]
    clock = env.clock[env.frames]
    if m < n:  # too few candidates: spread over the speaking time instead
        return [w.start_s for w in _fallback(words, [None] * n, float(env.times[-1]))]
    weights = np.array(
        [spoken_weight(w) * (FINAL_LENGTHENING if w.endswith(_PUNCTUATION) else 1.0) for w in words]
    )
    per_weight = env.speech_s / weights.sum()
    # Banded: a word's onset follows the previous one by at most `band` candidates (MAX_WORD_S).
    band = max(1, int(np.max(np.arange(m) - np.searchsorted(clock, clock - MAX_WORD_S))))
    previous = np.arange(m)[:, None] - np.arange(1, band + 1)[None, :]  # [j, d] -> candidate j-d-1
    valid = previous >= 0
    previous = np.maximum(previous, 0)
    span = clock[:, None] - clock[previous]  # speaking time from the previous onset to j
    # Pauses a word would span (a word is not paused inside): pause ends strictly between its onsets.
    pauses_upto = np.cumsum(env.after_pause)
    spanned = PAUSE_INSIDE_COST * (
        pauses_upto[np.maximum(np.arange(m) - 1, 0)][:, None] - pauses_upto[previous]
    )
    spanned_to_end = PAUSE_INSIDE_COST * (pauses_upto[-1] - pauses_upto)
    weak: np.ndarray = WEAK_DIP_COST * (1.0 - env.strength)

    def node_cost(i: int) -> np.ndarray:
        cost: np.ndarray = weak.copy()
        if i > 0:
            ends_phrase = words[i - 1].endswith(_PUNCTUATION)
            cost += np.where(
                env.after_pause, -0.5 if ends_phrase else MID_PAUSE_COST, 1.0 if ends_phrase else 0.0
            )
        first, last = earliest[i], latest[i]
        if first is not None:
            cost += (np.maximum(0.0, first - ANCHOR_SLACK_S - times) / 0.05) ** 2
        if last is not None:
            cost += (np.maximum(0.0, times - last) / LATE_SCALE_S) ** 2
        return cost

    def duration_cost(i: int, seconds: np.ndarray | float) -> np.ndarray:
        expected = weights[i] * per_weight + 0.02
        cost: np.ndarray = DURATION_COST * np.log((np.maximum(seconds, 0.0) + 0.02) / expected) ** 2
        return cost

    dp = np.full(m, np.inf)
    dp[0] = 0.0  # the first word starts where speech starts
    back = np.zeros((n, m), dtype=int)
    for i in range(1, n):
        total = np.where(valid, dp[previous] + duration_cost(i - 1, span) + spanned, np.inf)
        best = np.argmin(total, axis=1)
        back[i] = previous[np.arange(m), best]
        dp = total[np.arange(m), best] + node_cost(i)
    dp = dp + duration_cost(n - 1, env.end_clock - clock) + spanned_to_end
    j = int(np.argmin(dp))
    chosen = [j]
    for i in range(n - 1, 0, -1):
        j = int(back[i][j])
        chosen.append(j)
    chosen.reverse()
    return [float(times[j]) for j in chosen]
