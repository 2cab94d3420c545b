"""A local emulator of Azure OpenAI's voice APIs (realtime over WebSocket, audio chat completions).

`Emulator` runs it in-process; `python -m realtime_widgets.emulator --port PORT` runs it alone.
`synthesize` is its eSpeak NG voice, for making test clips "in the emulator's voice".
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .emulator import DEFAULT_DEPLOYMENT, PLACEHOLDER_KEY, Emulator
    from .faults import Faults
    from .limits import Limits
    from .replies import default_reply
    from .voice import synthesize

__all__ = [
    "DEFAULT_DEPLOYMENT",
    "PLACEHOLDER_KEY",
    "Emulator",
    "Faults",
    "Limits",
    "default_reply",
    "synthesize",
]

# Each name loads its module when first used: the worker processes (`_voice_worker`, `_asr_worker`)
# import this package and need none of the server (aiohttp, scipy).
_HOME = {
    "DEFAULT_DEPLOYMENT": ".emulator",
    "PLACEHOLDER_KEY": ".emulator",
    "Emulator": ".emulator",
    "Faults": ".faults",
    "Limits": ".limits",
    "default_reply": ".replies",
    "synthesize": ".voice",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name], __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
