"""Optional local speech recognition with pocketsphinx (its English model ships in the wheel).

It is weak on synthetic voices; callers keep its result only when non-empty. Speech the
emulator synthesized itself is recognised exactly by its fingerprint, without pocketsphinx, even
after resampling, gain or a lossy codec (`own_speech`).

Decoding holds the GIL for about a fifth of the audio's duration, which would freeze a
Jupyter kernel hosting the embedded emulator; so it runs in a worker process (`_asr_worker`),
started on first use, fed through pipes from a thread of its own. Audio is decoded in slices of
a few seconds, cut at its quietest moments, and the worker takes slices from the waiting
utterances' owners (sessions) in turn: a short turn waits behind one slice of a long one, not
behind all of it.
"""

from __future__ import annotations

import asyncio
import atexit
import struct
import subprocess
import sys
import threading
from collections import OrderedDict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from scipy.signal import resample_poly

from ..protocol import SAMPLE_RATE
from . import own_speech
from .worker_pipe import stop_workers, write_frame

# One worker: its model takes ~240 MB, and on two cores a second decoder would take the CPU the
# event loop needs. A slice of 3 s decodes in about half a second; longer audio is cut near every 3 s.
WORKERS = 1
SLICE_SECONDS = 3.0
_RATE = 16_000
_FRAME = _RATE // 50  # 20 ms: a cut goes in the quietest frame of the slice's last second
_INLINE_SECONDS = 1

_unavailable: str | None = None


def unavailable_reason() -> str:
    return _unavailable or "no local recognizer; install pocketsphinx"


def _to_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    pcm16k = resample_poly(samples.astype(np.float32), 2, 3) if rate == SAMPLE_RATE else samples
    return np.clip(pcm16k, -32768, 32767).astype(np.int16)


def slices(pcm: np.ndarray, seconds: float = SLICE_SECONDS) -> list[np.ndarray]:
    """16 kHz audio cut into slices of at most `seconds`, each cut at the quietest 20 ms frame of
    the slice's last second (between words, mostly)."""
    size = int(seconds * _RATE)
    out: list[np.ndarray] = []
    start = 0
    while len(pcm) - start > size:
        window = pcm[start + size - _RATE : start + size].astype(np.float32)
        energy = (window[: len(window) // _FRAME * _FRAME].reshape(-1, _FRAME) ** 2).sum(axis=1)
        cut = start + size - _RATE + int(np.argmin(energy)) * _FRAME + _FRAME // 2
        out.append(pcm[start:cut])
        start = cut
    out.append(pcm[start:])
    return out


@dataclass(eq=False)
class _Utterance:
    parts: list[bytes]
    owner: object
    done: Future[str | None] = field(default_factory=Future)
    texts: dict[int, str] = field(default_factory=dict)
    next_part: int = 0

    def finished(self, index: int, text: str | None) -> None:
        if text is None:
            if not self.done.done():
                self.done.set_result(None)
            return
        self.texts[index] = text
        if len(self.texts) == len(self.parts) and not self.done.done():
            self.done.set_result(" ".join(t for _, t in sorted(self.texts.items()) if t))


class _Pool:
    """Worker processes, each fed by one thread; slices are handed out round robin by owner."""

    def __init__(self, workers: int) -> None:
        self._size = workers
        self._cond = threading.Condition()
        self._waiting: OrderedDict[object, deque[_Utterance]] = OrderedDict()
        self._threads: list[threading.Thread] = []
        self.procs: list[subprocess.Popen[bytes]] = []

    def submit(self, parts: list[bytes], owner: object) -> Future[str | None]:
        utterance = _Utterance(parts, owner)
        with self._cond:
            self._waiting.setdefault(owner, deque()).append(utterance)
            self._start_workers()
            self._cond.notify()
        return utterance.done

    def _start_workers(self) -> None:
        self._threads = [t for t in self._threads if t.is_alive()]
        while len(self._threads) < self._size:
            thread = threading.Thread(target=self._serve, name="emulator-asr", daemon=True)
            self._threads.append(thread)
            thread.start()

    def warm_up(self) -> None:
        with self._cond:
            self._start_workers()

    def _next_slice(self) -> tuple[_Utterance, int] | None:
        """The next slice of the owner who waited longest (then last in line); None when idle."""
        while self._waiting:
            owner, queue = next(iter(self._waiting.items()))
            utterance = queue[0]
            if utterance.done.done():  # cancelled (its session left), or failed
                queue.popleft()
            else:
                index = utterance.next_part
                utterance.next_part += 1
                if utterance.next_part == len(utterance.parts):
                    queue.popleft()
                self._waiting.move_to_end(owner)
            if not queue:
                del self._waiting[owner]
            if not utterance.done.done():
                return utterance, index
        return None

    def _serve(self) -> None:
        global _unavailable
        proc = _start_process()
        with self._cond:
            self.procs.append(proc)
        try:
            while True:
                with self._cond:
                    job = self._next_slice()
                    while job is None:
                        self._cond.wait()
                        job = self._next_slice()
                utterance, index = job
                text, problem = _decode(proc, utterance.parts[index])
                if problem is not None:
                    _unavailable = problem
                utterance.finished(index, text)
                with self._cond:
                    if utterance.owner in self._waiting:  # back in line behind whoever came meanwhile
                        self._waiting.move_to_end(utterance.owner)
                if proc.poll() is not None:
                    return  # this thread ends with its process; the next submit starts both again
        finally:
            with self._cond:
                self.procs.remove(proc)

    def shutdown(self) -> None:
        with self._cond:
            procs = list(self.procs)
        stop_workers(procs)


def _start_process() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "realtime_widgets.emulator._asr_worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


def _decode(proc: subprocess.Popen[bytes], pcm16k: bytes) -> tuple[str | None, str | None]:
    """Blocking round trip to a worker (pipe I/O releases the GIL): (text, why it failed)."""
    stdin, stdout = proc.stdin, proc.stdout
    assert stdin is not None and stdout is not None  # noqa: S101 - both are pipes (see _start_process)
    try:
        write_frame(stdin, pcm16k)
        header = stdout.read(5)
        if len(header) < 5:
            raise BrokenPipeError("the recognizer process ended")
        status, size = struct.unpack("<BI", header)
        text = stdout.read(size).decode() if size else ""
    except (BrokenPipeError, OSError, ValueError) as exc:
        return None, f"the recognizer process stopped ({exc})"
    if status != 0:
        return None, "no local recognizer (pocketsphinx or its model is missing); install pocketsphinx"
    return text, None


_pool = _Pool(WORKERS)
# One thread prepares longer audio (own-speech lookup, resampling): it holds the GIL most of the time,
# so more threads would only take turns at it and add runnable threads that compete with the loop's.
_preparer = ThreadPoolExecutor(1, thread_name_prefix="emulator-asr-prepare")


def warm_up() -> None:
    """Start the worker process now (it takes a few seconds to load its model)."""
    _pool.warm_up()


def worker_processes() -> list[subprocess.Popen[bytes]]:
    """The live worker processes (for tests)."""
    return [p for p in list(_pool.procs) if p.poll() is None]


async def transcribe_async(samples: np.ndarray, rate: int = SAMPLE_RATE, owner: object = None) -> str | None:
    """Text heard in PCM16 `samples`, "" when nothing was recognised, None without a recognizer.

    `owner` (a session) takes turns with other owners for the worker; None: a turn of its own.
    Cancelling the call drops its slices not yet decoded.
    """
    # Finding its own speech and resampling take ~2.5 ms per second of audio: off the loop, but for
    # a second or less (the thread's hand-over would cost more).
    if len(samples) <= _INLINE_SECONDS * rate:
        prepared = _prepare(samples, rate)
    else:
        prepared = await asyncio.get_running_loop().run_in_executor(_preparer, _prepare, samples, rate)
    if not isinstance(prepared, list):
        return prepared
    done = _pool.submit(prepared, owner if owner is not None else object())
    return await asyncio.wrap_future(done)


def _prepare(samples: np.ndarray, rate: int) -> str | None | list[bytes]:
    """The text when the emulator said it itself, None without a recognizer, else the slices to decode."""
    known = own_speech.recall(samples, rate)
    if known is not None:
        return known
    if _unavailable is not None:
        return None
    return [part.tobytes() for part in slices(_to_16k(samples, rate))]


@atexit.register
def shutdown() -> None:
    """Stop the worker processes."""
    _pool.shutdown()
