"""Local text-to-speech with eSpeak NG: replies cut into slices, and the engines that make them.

eSpeak keeps global state and is not thread-safe (one engine per process, `espeak.py`). Two engines:
one, in this process, makes only a reply's first slice (someone waits for its first audio); the
other, in a worker process (`_voice_worker`), the slices made ahead of streaming, so a first slice
never waits behind one of those. Each takes its slices first asked first done; a caller asks for
its next slice only when the last one is done, so callers take turns: no session waits behind
another's whole reply, only behind one slice per busy session.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import pickle
import re
import subprocess
import sys
import threading
from collections import deque
from collections.abc import AsyncGenerator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from ..protocol import SAMPLE_RATE, VOICES
from . import own_speech
from .espeak import VOICE_MAP, make_slice
from .worker_pipe import read_frame, stop_workers, write_frame

# Words per slice: whole sentences are packed up to this; a longer sentence is cut. About 8 s of
# speech and 10 ms of synthesis each; a smaller slice pays eSpeak's per-call cost more often.
SLICE_WORDS = 24
FIRST_SLICE_WORDS = 8  # a reply's first slice: ~4 ms of synthesis before its first audio
AHEAD_NICENESS = 5  # the engine making slices ahead of streaming
_WORKER_ATTEMPTS = 3  # slices made in-process because the worker failed, before it is no longer tried
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the directory holding realtime_widgets
log = logging.getLogger(__name__)
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")

assert set(VOICE_MAP) == set(VOICES)


@dataclass(frozen=True)
class Speech:
    """Synthesized speech: PCM16 samples and where each word starts (seconds into the audio)."""

    audio: np.ndarray  # int16, mono, at `rate`
    rate: int
    words: list[tuple[str, float]]

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.rate


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
    """Two engines (eSpeak's global state is per process), each served by a thread of its own, each
    taking its slices first asked first done. A reply's first slice (someone waits for its first
    audio) is made in this process: a worker process would add a hand-over, which costs milliseconds
    on a busy machine. The slices made ahead while earlier ones stream are made in a worker process
    (`_voice_worker`), so a first slice never waits behind one, and their synthesis and resampling
    do not hold this process's GIL, which the event loop needs."""

    def __init__(self) -> None:
        self._queues: dict[bool, deque[_Job]] = {True: deque(), False: deque()}  # by `first`
        self._ready = threading.Condition()
        self._threads: dict[bool, threading.Thread] = {}
        self.procs: list[subprocess.Popen[bytes]] = []
        self._local = threading.Lock()  # this process's engine: the first slices' thread, or a fallback
        self.fallbacks = 0  # slices made ahead in this process because the worker could not make them

    def submit(
        self, text: str, voice: str, rate: int, first: bool = True, end_pause: bool = False
    ) -> Future[Speech]:
        job = _Job(Future(), text, voice, rate, end_pause)
        with self._ready:
            self._start(first)
            self._queues[first].append(job)
            self._ready.notify_all()
        return job.done

    def warm_up(self) -> None:
        """Start both engines now (the worker process takes about a second to start)."""
        with self._ready:
            self._start(True)
            self._start(False)

    def _start(self, first: bool) -> None:
        thread = self._threads.get(first)
        if thread is None or not thread.is_alive():
            name = "emulator-voice" if first else "emulator-voice-ahead"
            thread = threading.Thread(target=self._serve, args=(first,), name=name, daemon=True)
            self._threads[first] = thread
            thread.start()

    def _next(self, first: bool) -> _Job:
        queue = self._queues[first]
        with self._ready:
            while not queue:
                self._ready.wait()
            return queue.popleft()

    def _serve(self, first: bool) -> None:
        proc: subprocess.Popen[bytes] | None = None
        if not first:
            with contextlib.suppress(OSError):  # started at once (warm_up); a failure is told per slice
                proc = self._spawn(proc)
        while True:
            job = self._next(first)
            if not job.done.set_running_or_notify_cancel():
                continue  # its session stopped listening (cancelled response, closed socket)
            try:
                if first:
                    audio, words = self._make_here(job)
                else:
                    try:
                        if self.fallbacks >= _WORKER_ATTEMPTS:
                            raise _WorkerStopped("the voice worker process failed to start or run repeatedly")
                        if proc is None or proc.poll() is not None:  # not started, or it died: a new one
                            proc = self._spawn(proc)
                        audio, words = _round_trip(proc, job)
                    except (OSError, _WorkerStopped) as exc:
                        # The reply goes on, made here; the worker is started again at the next slice
                        # (after a few failures no more: every slice would wait for a start that fails).
                        self.fallbacks += 1
                        log.warning("emulator: %s; this slice is made in the emulator's process", exc)
                        audio, words = self._make_here(job)
                own_speech.remember(audio, job.text, job.rate)
                job.done.set_result(Speech(audio=audio, rate=job.rate, words=words))
            except BaseException as exc:  # noqa: BLE001 - the caller gets it; the thread serves the next
                job.done.set_exception(exc)

    def _make_here(self, job: _Job) -> tuple[np.ndarray, list[tuple[str, float]]]:
        with self._local:
            return make_slice(job.text, job.voice, job.rate, job.end_pause, _resample)

    def _spawn(self, replacing: subprocess.Popen[bytes] | None) -> subprocess.Popen[bytes]:
        # Slices made ahead have seconds of slack: their engine yields the CPU to the event loop and
        # to first slices on a busy machine. The worker imports this very package, wherever it came from.
        path = os.pathsep.join(filter(None, [_PACKAGE_ROOT, os.environ.get("PYTHONPATH")]))
        proc = subprocess.Popen(
            [sys.executable, "-m", "realtime_widgets.emulator._voice_worker", str(AHEAD_NICENESS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": path},
        )
        with self._ready:
            if replacing in self.procs:
                self.procs.remove(replacing)
            self.procs.append(proc)
        assert proc.stdout is not None  # noqa: S101 - a pipe (above)
        proc.stdout.readline()  # "ready": imported (or, if it failed, EOF; the first slice says why)
        return proc

    def shutdown(self) -> None:
        with self._ready:
            procs = list(self.procs)
        stop_workers(procs)


class _WorkerStopped(RuntimeError):
    """The voice worker process ended or could not be reached (its slice is then made in-process)."""


def _round_trip(proc: subprocess.Popen[bytes], job: _Job) -> tuple[np.ndarray, list[tuple[str, float]]]:
    """One slice made by a worker process (pipe I/O releases the GIL while it works)."""
    stdin, stdout = proc.stdin, proc.stdout
    assert stdin is not None and stdout is not None  # noqa: S101 - both are pipes (see _spawn)
    request = pickle.dumps((job.text, job.voice, job.rate, job.end_pause))
    try:
        write_frame(stdin, request)
        data = read_frame(stdout)
        if data is None:
            raise BrokenPipeError("it ended")
    except (BrokenPipeError, OSError, ValueError) as exc:
        raise _WorkerStopped(f"the voice worker process stopped ({exc})") from exc
    ok, result = pickle.loads(data)  # noqa: S301 - our own worker process
    if not ok:
        raise RuntimeError(f"speech synthesis failed in the voice process: {result}")
    return result


@dataclass
class _Job:
    done: Future[Speech]
    text: str
    voice: str
    rate: int
    end_pause: bool  # a slice ending a sentence inside the reply: the pause one call would make


_synthesizer = _Synthesizer()
atexit.register(_synthesizer.shutdown)


def warm_up() -> None:
    """Start both engines now, so no reply waits for them to load."""
    _synthesizer.warm_up()


def worker_processes() -> list[subprocess.Popen[bytes]]:
    """The live voice worker process, if started (for tests)."""
    return [p for p in list(_synthesizer.procs) if p.poll() is None]


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
