"""Local text-to-speech with eSpeak NG (the `espeakng-loader` wheel, through ctypes).

eSpeak keeps global state and is not thread-safe: one thread owns the engine (loaded on first use,
which keeps `Emulator()` start-up fast) and synthesises one slice of text at a time, in the order
slices were asked for, a reply's first slice before the slices made ahead of streaming. A caller
asks for its next slice only when the last one is done, so callers take turns: no session waits
behind another's whole reply, only behind one slice per busy session.
"""

from __future__ import annotations

import asyncio
import ctypes
import re
import threading
from collections import deque
from collections.abc import AsyncGenerator
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np
from scipy.signal import resample_poly

from ..protocol import SAMPLE_RATE, VOICES
from . import own_speech

# espeak_AUDIO_OUTPUT / espeak_PARAMETER / espeak_EVENT_TYPE values from speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4
_EVENT_LIST_TERMINATED, _EVENT_WORD = 0, 1
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_END_PAUSE = 0x1000  # espeakENDPAUSE: the pause after the text's last sentence, as within a text
# Words per slice: whole sentences are packed up to this; a longer sentence is cut. About 8 s of
# speech and 10 ms of synthesis each; a smaller slice pays eSpeak's per-call cost more often.
SLICE_WORDS = 24
FIRST_SLICE_WORDS = 8  # a reply's first slice: ~4 ms of synthesis before its first audio
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")

# Each service voice maps to a distinct eSpeak variant and pitch so they are told apart by ear.
VOICE_MAP: dict[str, tuple[str, int, int]] = {
    # name: (eSpeak voice+variant, pitch 0-100, words per minute)
    "alloy": ("en-us+f3", 55, 175),
    "ash": ("en-us+m3", 40, 170),
    "ballad": ("en-gb-x-rp+m1", 45, 160),
    "coral": ("en-us+f2", 65, 180),
    "echo": ("en-us+m7", 35, 170),
    "sage": ("en-gb+f4", 50, 165),
    "shimmer": ("en-us+f5", 70, 185),
    "verse": ("en-gb-scotland+m2", 45, 170),
    "marin": ("en-us+f1", 60, 175),
    "cedar": ("en-us+m1", 30, 165),
}
assert set(VOICE_MAP) == set(VOICES)


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True)
class Speech:
    """Synthesized speech: PCM16 samples and where each word starts (seconds into the audio)."""

    audio: np.ndarray  # int16, mono, at `rate`
    rate: int
    words: list[tuple[str, float]]

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.rate


class _Engine:
    def __init__(self) -> None:
        import espeakng_loader

        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib = self._lib
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 200, espeakng_loader.get_data_path().encode(), 0
        )
        if rate <= 0:
            raise RuntimeError("eSpeak NG failed to initialise (check the espeakng-loader wheel)")
        self.rate = rate
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int]] = []  # (text_position, audio_position_ms)
        self._voice: str | None = None
        self._callback = _SynthCallback(self._on_audio)  # kept referenced: eSpeak holds the pointer
        lib.espeak_SetSynthCallback(self._callback)

    def _on_audio(self, wav, n: int, events) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            if events[i].type == _EVENT_WORD:
                self._events.append((events[i].text_position, events[i].audio_position))
            i += 1
        return 0

    def speak(
        self, text: str, voice: str, end_pause: bool = False
    ) -> tuple[np.ndarray, list[tuple[int, int]]]:
        name, pitch, wpm = VOICE_MAP[voice]
        lib = self._lib
        if voice != self._voice:  # loading a voice costs milliseconds; slices mostly keep theirs
            if lib.espeak_SetVoiceByName(name.encode()) != 0:
                lib.espeak_SetVoiceByName(b"en-us")
            self._voice = voice
        lib.espeak_SetParameter(_PARAM_PITCH, pitch, 0)
        lib.espeak_SetParameter(_PARAM_RATE, wpm, 0)
        lib.espeak_SetParameter(_PARAM_VOLUME, 100, 0)
        self._chunks, self._events = [], []
        data = text.encode("utf-8") + b"\0"
        buf = ctypes.create_string_buffer(data)
        flags = _CHARS_UTF8 | (_END_PAUSE if end_pause else 0)
        lib.espeak_Synth(buf, len(data), 0, _POS_CHARACTER, 0, flags, None, None)
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        return audio.astype(np.int16, copy=False), list(self._events)


def slices(text: str, max_words: int = SLICE_WORDS, first_words: int = FIRST_SLICE_WORDS) -> list[str]:
    """`text` as slices of whole sentences of up to `max_words` words (a longer sentence is cut); the
    first slice packs sentences up to `first_words`, so the first audio comes after little synthesis,
    but is not cut inside its first sentence (a cut changes the sound; a short tail is not recognised)."""
    out: list[str] = []
    current: list[str] = []
    for sentence in _SENTENCE_END.split(text.strip()):
        words = sentence.split()
        limit = max_words if out else first_words
        if current and len(current) + len(words) > limit:
            out.append(" ".join(current))
            current = []
        current += words
        while len(current) > max_words:
            out.append(" ".join(current[:max_words]))
            current = current[max_words:]
    if current:
        out.append(" ".join(current))
    return out


class _Synthesizer:
    """The thread that owns eSpeak: slices are synthesised one at a time, first asked first done,
    except that a reply's first slice (someone waits for its first audio) goes before the slices
    made ahead while earlier ones stream."""

    def __init__(self) -> None:
        self._first: deque[_Job] = deque()
        self._ahead: deque[_Job] = deque()
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None

    def submit(
        self, text: str, voice: str, rate: int, first: bool = True, end_pause: bool = False
    ) -> Future[Speech]:
        job = _Job(Future(), text, voice, rate, end_pause)
        with self._ready:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="emulator-voice", daemon=True)
                self._thread.start()
            (self._first if first else self._ahead).append(job)
            self._ready.notify()
        return job.done

    def _next(self) -> _Job:
        with self._ready:
            while not (self._first or self._ahead):
                self._ready.wait()
            return (self._first or self._ahead).popleft()

    def _run(self) -> None:
        engine: _Engine | None = None
        while True:
            job = self._next()
            if not job.done.set_running_or_notify_cancel():
                continue  # its session stopped listening (cancelled response, closed socket)
            try:
                engine = engine or _Engine()
                raw, events = engine.speak(job.text, job.voice, job.end_pause)
                audio = _resample(raw, engine.rate, job.rate)
                own_speech.remember(audio, job.text, job.rate)
                job.done.set_result(Speech(audio=audio, rate=job.rate, words=_word_times(job.text, events)))
            except BaseException as exc:  # noqa: BLE001 - the caller gets it; the thread serves the next
                job.done.set_exception(exc)


@dataclass
class _Job:
    done: Future[Speech]
    text: str
    voice: str
    rate: int
    end_pause: bool  # a slice ending a sentence inside the reply: the pause one call would make


_synthesizer = _Synthesizer()


def _check(voice: str, rate: int) -> None:
    if voice not in VOICE_MAP:
        raise ValueError(f"unknown voice {voice!r}; use one of: {', '.join(VOICES)}")
    if rate <= 0:
        raise ValueError(f"rate must be a positive sample rate in Hz, got {rate!r}")


def speak(text: str, voice: str = "alloy", rate: int = SAMPLE_RATE) -> Speech:
    """Synthesize `text` and report word start times (used to interleave transcript deltas)."""
    _check(voice, rate)
    texts = slices(text)
    parts = [
        _synthesizer.submit(part, voice, rate, first=not i, end_pause=_ends_inside(texts, i)).result()
        for i, part in enumerate(texts)
    ]
    return _joined(parts, rate)


async def speak_slices(
    text: str, voice: str = "alloy", rate: int = SAMPLE_RATE
) -> AsyncGenerator[Speech, None]:
    """`text` spoken slice by slice: the first comes after one slice's synthesis, and the next is
    made while the caller streams this one. Closing the iterator drops the slice being made."""
    _check(voice, rate)
    parts = slices(text)
    if not parts:
        return
    making: Future[Speech] | None = _synthesizer.submit(
        parts[0], voice, rate, end_pause=_ends_inside(parts, 0)
    )
    try:
        for i in range(len(parts)):
            assert making is not None  # noqa: S101 - one is submitted for every part
            speech = await asyncio.wrap_future(making)
            making = (
                _synthesizer.submit(
                    parts[i + 1], voice, rate, first=False, end_pause=_ends_inside(parts, i + 1)
                )
                if i + 1 < len(parts)
                else None
            )
            yield speech
    finally:
        if making is not None:
            making.cancel()


def _ends_inside(parts: list[str], i: int) -> bool:
    """Slice `i` ends a sentence before the reply's end: eSpeak suppresses the pause after a text's
    last sentence, which one call over the whole reply would have made there (joins stay seamless)."""
    return i + 1 < len(parts) and parts[i][-1:] in (".", "!", "?", ";", ":")


def _joined(parts: list[Speech], rate: int) -> Speech:
    audio = np.concatenate([p.audio for p in parts]) if parts else np.zeros(0, np.int16)
    words: list[tuple[str, float]] = []
    offset = 0.0
    for part in parts:
        words += [(word, offset + t) for word, t in part.words]
        offset += part.duration_s
    return Speech(audio=audio, rate=rate, words=words)


def seconds_per_word(voice: str) -> float:
    """About how long a word of `voice` lasts (its nominal rate; eSpeak's pauses are extra)."""
    return 60.0 / VOICE_MAP[voice][2]


def synthesize(text: str, voice: str = "alloy", rate: int = SAMPLE_RATE) -> np.ndarray:
    """PCM16 mono speech of `text` in one of the service's voice names, at `rate` Hz."""
    return speak(text, voice, rate).audio


def _resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    if src == dst or len(x) == 0:
        return x.astype(np.int16, copy=False)
    g = np.gcd(src, dst)
    y = resample_poly(x.astype(np.float32), dst // g, src // g)
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)


def _word_times(text: str, events: list[tuple[int, int]]) -> list[tuple[str, float]]:
    """Pair each whitespace-separated word with the audio time eSpeak reported for it.

    eSpeak's text_position is a 1-based character offset; when events are missing or do not
    line up, the words are spread evenly (callers only need a monotonic estimate).
    """
    spans: list[tuple[int, str]] = []
    pos = 0
    for word in text.split():
        start = text.index(word, pos)
        spans.append((start, word))
        pos = start + len(word)
    times: list[tuple[str, float]] = []
    ev = sorted(events)
    j = 0
    last = 0.0
    for start, word in spans:
        t = None
        while j < len(ev) and ev[j][0] - 1 <= start:
            if ev[j][0] - 1 >= start - 1:
                t = ev[j][1] / 1000.0
            j += 1
        if t is None or t < last:
            t = last
        times.append((word, t))
        last = t
    return times
