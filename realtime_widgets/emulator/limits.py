"""Size limits and timeouts that protect the emulator from bad input and abandoned clients.

The defaults follow the service where it documents a figure (15 MiB of audio per append, 20 MB of
audio per chat completion) and are emulator choices elsewhere; docs/emulator-fidelity.md gives each
one's source. Tests make them small: `Emulator(limits=Limits(write_timeout_s=1))`.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, fields
from typing import Any

from ..protocol import MAX_APPEND_BYTES, MAX_AUDIO_FILE_BYTES
from .errors import ServiceError

if sys.version_info >= (3, 11):
    from asyncio import timeout
else:  # aiohttp depends on async-timeout before 3.11
    from async_timeout import timeout  # type: ignore[import-not-found,no-redef,unused-ignore]

__all__ = ["Limits", "check_depth", "timeout", "too_deep", "unreadable"]

_MIB = 1024 * 1024


def _base64_size(n: int) -> int:
    return (n + 2) // 3 * 4


@dataclass
class Limits:
    # One WebSocket message: a 15 MiB append is 20 MiB of base64, plus room for the rest of the event.
    max_frame_bytes: int = _base64_size(MAX_APPEND_BYTES) + _MIB
    # One HTTP request body: 20 MB of audio as base64, plus room for the messages (and for a little more
    # audio, so audio over 20 MB gets the audio error naming its part rather than this one).
    max_request_bytes: int = _base64_size(MAX_AUDIO_FILE_BYTES) + 4 * _MIB
    # Nesting of arrays and objects in one event or request body.
    max_json_depth: int = 64
    # A client that reads nothing for this long while the emulator writes to it is disconnected.
    write_timeout_s: float = 10.0
    # A session with no frame from its client (pings count) and no response running is closed.
    idle_timeout_s: float | None = 240.0
    # Request headers (and a chat completion's body) must arrive within this long.
    handshake_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.name == "idle_timeout_s":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"Limits.{f.name} must be a positive number, got {value!r}")


def too_deep(value: Any, limit: int, root: str = "") -> str | None:
    """Where `value` nests deeper than `limit` arrays and objects (a param path), or None.

    Iterative, so a hostile document cannot exhaust the stack here; the path names the first keys.
    """
    stack: list[tuple[Any, int, str]] = [(value, 1, root)]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, dict):
            children: Any = ((f"{path}.{k}" if path else str(k), v) for k, v in node.items())
        elif isinstance(node, list):
            children = ((f"{path}[{i}]", v) for i, v in enumerate(node))
        else:
            continue
        if depth > limit:
            return _first_segments(path) or root or "(body)"
        stack.extend((child, depth + 1, child_path) for child_path, child in children)
    return None


def _first_segments(path: str, keep: int = 4) -> str:
    """`session.tracing[0][0][0]...` as `session.tracing[0][0]`: a real path, short enough to read."""
    segments = re.findall(r"\.?[^.\[]+|\[\d+\]", path)[:keep]
    return "".join(segments).lstrip(".")


def check_depth(value: Any, limit: int, root: str = "") -> None:
    """Raise ServiceError naming where `value` nests deeper than `limit` (what the emulator keeps
    must stay copyable and serialisable: deep copies and json.dumps recurse)."""
    where = too_deep(value, limit, root)
    if where is not None:
        raise ServiceError(
            f"'{where}' nests arrays and objects deeper than {limit} levels; send a flatter value.",
            param=where,
        )


def unreadable(exc: ValueError | RecursionError, limit: int) -> ServiceError:
    """The error for a frame or body that does not decode as JSON."""
    if isinstance(exc, RecursionError):
        return ServiceError(
            f"The JSON nests arrays and objects deeper than {limit} levels; send a flatter value.",
            code="invalid_json",
        )
    return ServiceError(
        f"The event is not valid JSON ({exc}); send one JSON object per message.", code="invalid_json"
    )
