"""An eSpeak NG engine (the `espeakng-loader` wheel, through ctypes): one slice of speech at a time.

eSpeak keeps global state and is not thread-safe: one engine per process, used by one thread. This
module imports only ctypes, numpy and PyAV, so the voice worker process starts small and quickly
(47 MB, 0.25 s to its first slice); `voice.py` schedules the slices.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

import av
import numpy as np

# espeak_AUDIO_OUTPUT / espeak_PARAMETER / espeak_EVENT_TYPE values from speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4
_EVENT_LIST_TERMINATED, _EVENT_WORD = 0, 1
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_END_PAUSE = 0x1000  # espeakENDPAUSE: the pause after the text's last sentence, as within a text

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


class Engine:
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


Resampler = Callable[[np.ndarray, int, int], np.ndarray]  # (PCM16, from Hz, to Hz) -> PCM16


def make_slice(
    text: str, voice: str, rate: int, end_pause: bool, resample: Resampler | None = None
) -> tuple[np.ndarray, list[tuple[str, float]]]:
    """One slice of speech at `rate` and its words' start times, made by this process's engine
    (what a voice worker process runs)."""
    global _engine
    _engine = _engine or Engine()
    raw, events = _engine.speak(text, voice, end_pause)
    return (resample or resample_swr)(raw, _engine.rate, rate), word_times(text, events)


_engine: Engine | None = None  # this process's engine, loaded on first use


def resample_swr(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    """PCM16 `x` from `src` to `dst` Hz with libswresample (PyAV), the same length as resample_poly
    gives. The worker process uses it so as not to import scipy (~1 s and ~60 MB more); scipy's is
    about twice as fast (0.75 against 1.7 ms for 2.5 s of speech), so the emulator's process uses that."""
    if src == dst or len(x) == 0:
        return x.astype(np.int16, copy=False)
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(x, dtype=np.int16).reshape(1, -1), format="s16", layout="mono"
    )
    frame.sample_rate = src
    resampler = av.AudioResampler(format="s16", layout="mono", rate=dst)
    out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame) + resampler.resample(None)]
    return np.concatenate(out) if out else np.zeros(0, np.int16)


def word_times(text: str, events: list[tuple[int, int]]) -> list[tuple[str, float]]:
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
