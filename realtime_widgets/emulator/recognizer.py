"""Optional local speech recognition with pocketsphinx (its English model ships in the wheel).

It is weak on synthetic voices; callers keep its result only when non-empty. Speech the
emulator synthesized itself is recognised exactly, without pocketsphinx (`own_speech`).

Decoding holds the GIL for about a third of the audio's duration, which would freeze a
Jupyter kernel hosting the embedded emulator; so it runs in one worker process
(`_asr_worker`), started on first use, fed through pipes from one thread.
"""

from __future__ import annotations

import asyncio
import atexit
import struct
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.signal import resample_poly

from ..protocol import SAMPLE_RATE
from . import own_speech

_lock = threading.Lock()
_proc: subprocess.Popen[bytes] | None = None
_unavailable: str | None = None
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="emulator-asr")


def unavailable_reason() -> str:
    return _unavailable or "no local recognizer; install pocketsphinx"


def _to_16k(samples: np.ndarray, rate: int) -> bytes:
    pcm16k = resample_poly(samples.astype(np.float32), 2, 3) if rate == SAMPLE_RATE else samples
    return np.clip(pcm16k, -32768, 32767).astype(np.int16).tobytes()


def _worker() -> subprocess.Popen[bytes]:
    global _proc
    if _proc is None or _proc.poll() is not None:
        _proc = subprocess.Popen(
            [sys.executable, "-m", "realtime_widgets.emulator._asr_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    return _proc


def warm_up() -> None:
    """Start the worker process now (it takes a few seconds to load its model)."""
    with _lock:
        _worker()


def _decode(pcm16k: bytes) -> str | None:
    """Blocking round trip to the worker (pipe I/O releases the GIL)."""
    global _unavailable
    with _lock:
        proc = _worker()
        stdin, stdout = proc.stdin, proc.stdout
        assert stdin is not None and stdout is not None  # noqa: S101 - both are pipes (see _worker)
        try:
            stdin.write(struct.pack("<I", len(pcm16k)) + pcm16k)
            stdin.flush()
            header = stdout.read(5)
            if len(header) < 5:
                raise BrokenPipeError("the recognizer process ended")
            status, size = struct.unpack("<BI", header)
            text = stdout.read(size).decode() if size else ""
        except (BrokenPipeError, OSError) as exc:
            _unavailable = f"the recognizer process stopped ({exc})"
            return None
    if status != 0:
        _unavailable = "no local recognizer (pocketsphinx or its model is missing); install pocketsphinx"
        return None
    return text


async def transcribe_async(samples: np.ndarray, rate: int = SAMPLE_RATE) -> str | None:
    """Text heard in PCM16 `samples`, "" when nothing was recognised, None without a recognizer."""
    if rate == SAMPLE_RATE:
        known = own_speech.recall(samples)
        if known is not None:
            return known
    if _unavailable is not None:
        return None
    data = _to_16k(samples, rate)
    return await asyncio.get_running_loop().run_in_executor(_executor, _decode, data)


@atexit.register
def shutdown() -> None:
    """Stop the worker process (its stdin closing ends it)."""
    global _proc
    with _lock:
        proc, _proc = _proc, None
    if proc is not None and proc.poll() is None:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
