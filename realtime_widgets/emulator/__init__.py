"""A local emulator of Azure OpenAI's voice APIs (realtime over WebSocket, audio chat completions).

`Emulator` runs it in-process; `python -m realtime_widgets.emulator --port PORT` runs it alone.
`synthesize` is its eSpeak NG voice, for making test clips "in the emulator's voice".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .emulator import DEFAULT_DEPLOYMENT, PLACEHOLDER_KEY, Emulator
from .faults import Faults
from .limits import Limits
from .replies import default_reply

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    # numpy/scipy and eSpeak load only when speech is first needed.
    if name == "synthesize":
        from .voice import synthesize

        return synthesize
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
