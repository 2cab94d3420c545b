"""Optional local speech recognition with pocketsphinx (its English model ships in the wheel).

It is weak on synthetic voices; callers keep its result only when non-empty. Decoding is
CPU-bound, so it runs on one worker thread (the decoder is not thread-safe).
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.signal import resample_poly

from ..protocol import SAMPLE_RATE
from . import own_speech

_lock = threading.Lock()
_decoder = None
_unavailable: str | None = None
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="emulator-asr")


def _get_decoder():
    global _decoder, _unavailable
    if _decoder is None and _unavailable is None:
        try:
            from pocketsphinx import Decoder

            _decoder = Decoder(samprate=16000, loglevel="FATAL")
        except Exception as exc:  # missing wheel or model: recognition is optional
            _unavailable = f"no local recognizer ({type(exc).__name__}: {exc}); install pocketsphinx"
    return _decoder


def available() -> bool:
    with _lock:
        return _get_decoder() is not None


def unavailable_reason() -> str:
    return _unavailable or ""


def transcribe(samples: np.ndarray, rate: int = SAMPLE_RATE) -> str | None:
    """Text heard in PCM16 `samples`, "" when nothing was recognised, None without a recognizer."""
    if rate == SAMPLE_RATE:
        known = own_speech.recall(samples)
        if known is not None:
            return known
    pcm16k = resample_poly(samples.astype(np.float32), 2, 3) if rate == SAMPLE_RATE else samples
    data = np.clip(pcm16k, -32768, 32767).astype(np.int16).tobytes()
    with _lock:
        dec = _get_decoder()
        if dec is None:
            return None
        dec.start_utt()
        dec.process_raw(data, full_utt=True)
        dec.end_utt()
        hyp = dec.hyp()
    return hyp.hypstr.strip() if hyp is not None else ""


async def transcribe_async(samples: np.ndarray, rate: int = SAMPLE_RATE) -> str | None:
    return await asyncio.get_running_loop().run_in_executor(_executor, transcribe, samples, rate)
