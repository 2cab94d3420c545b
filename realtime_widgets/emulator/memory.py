"""Freed memory given back to the system when the emulator goes quiet.

glibc keeps the heap pages of freed objects (speech slices, event text) for reuse, so after a burst
of sessions the emulator's RSS stays at its peak although Python freed everything; `malloc_trim`
returns them. It is called when the last live session ends; elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Callable

_trim: Callable[[int], int] | None = None
if sys.platform.startswith("linux"):
    try:
        _trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        _trim = None


def give_back() -> None:
    if _trim is not None:
        _trim(0)
