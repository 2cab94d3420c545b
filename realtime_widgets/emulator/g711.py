"""G.711 mu-law / A-law at 8 kHz <-> PCM16 at 24 kHz, for the `pcmu`/`pcma` session formats."""

from __future__ import annotations

import numpy as np
from scipy.signal import resample_poly


def _ulaw_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.uint8)
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    mag = ((mantissa.astype(np.int32) << 3) + 0x84) << exponent
    pcm = mag - 0x84
    return np.where(sign != 0, -pcm, pcm).astype(np.int16)


def _alaw_table() -> np.ndarray:
    a = np.arange(256, dtype=np.uint8) ^ 0x55
    sign = a & 0x80
    exponent = (a >> 4) & 0x07
    mantissa = (a & 0x0F).astype(np.int32)
    mag = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0)
    )
    return np.where(sign != 0, mag, -mag).astype(np.int16)


_ULAW = _ulaw_table()
_ALAW = _alaw_table()
# Encoding by nearest table entry keeps this short and exact for round trips.
_ULAW_ORDER = np.argsort(_ULAW)
_ALAW_ORDER = np.argsort(_ALAW)


def decode(data: bytes, law: str) -> np.ndarray:
    """G.711 bytes (8 kHz) -> PCM16 at 24 kHz."""
    table = _ULAW if law == "ulaw" else _ALAW
    pcm8 = table[np.frombuffer(data, np.uint8)]
    return np.clip(resample_poly(pcm8.astype(np.float32), 3, 1), -32768, 32767).astype(np.int16)


def encode(samples: np.ndarray, law: str) -> bytes:
    """PCM16 at 24 kHz -> G.711 bytes at 8 kHz."""
    table, order = (_ULAW, _ULAW_ORDER) if law == "ulaw" else (_ALAW, _ALAW_ORDER)
    pcm8 = np.clip(resample_poly(samples.astype(np.float32), 1, 3), -32768, 32767)
    sorted_vals = table[order].astype(np.float32)
    idx = np.clip(np.searchsorted(sorted_vals, pcm8), 1, 255)
    left, right = sorted_vals[idx - 1], sorted_vals[idx]
    idx = np.where(np.abs(pcm8 - left) <= np.abs(right - pcm8), idx - 1, idx)
    return order[idx].astype(np.uint8).tobytes()
