"""`RealtimeEvent`: one client or server event, with one vocabulary for both protocols.

Callers see GA event names whatever the wire spoke (`protocol.to_ga_event_type`); the event as it
travelled stays in `raw` (preview names stay preview there). The one exception to "as on the wire":
audio payloads (`input_audio_buffer.append` "audio", `response.output_audio.delta` "delta") are
replaced by a short reference string into the conversation's audio streams, because a log that keeps
base64 copies of an hour of audio costs more memory than the audio itself.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from .protocol import to_ga_event_type

Direction = Literal["client", "server"]

# Events whose audio payload lives in a conversation stream, and the key holding it.
# A WebRTC call's audio, tapped by the page and recorded by the kernel (never on the wire): the
# microphone as a client event, the model's track as a server event of the response playing.
INPUT_TAP = "webrtc.input_audio.tap"
OUTPUT_TAP = "webrtc.output_audio.tap"
AUDIO_PAYLOAD_KEYS = {
    "input_audio_buffer.append": ("audio", "input"),
    "response.output_audio.delta": ("delta", "output"),
    INPUT_TAP: ("audio", "input"),
    OUTPUT_TAP: ("delta", "output"),
}

_AUDIO_REF = re.compile(r"^@(input|output)\.wav\[(\d+):(\d+)\]$")


@dataclass(frozen=True, slots=True)
class RealtimeEvent:
    """One event of a realtime session.

    `type` is the GA name, `direction` is "client" (sent by us) or "server", `time` is seconds since
    the session connected (monotonic clock), `raw` is the event as on the wire (audio payloads as
    references, see the module doc) and `wire_type` is `raw["type"]`.
    """

    type: str
    direction: Direction
    time: float
    raw: dict[str, Any]
    wire_type: str

    @classmethod
    def from_raw(cls, raw: dict[str, Any], direction: Direction, time: float) -> RealtimeEvent:
        wire_type = raw.get("type") if isinstance(raw, dict) else None
        if not isinstance(wire_type, str):
            raise ValueError(f"a realtime event needs a string 'type', got {raw!r:.200}")
        if direction not in ("client", "server"):
            raise ValueError(f"direction must be 'client' or 'server', got {direction!r}")
        # Client events share names on both protocols; only server names are translated.
        ga_type = to_ga_event_type(wire_type) if direction == "server" else wire_type
        return cls(type=ga_type, direction=direction, time=float(time), raw=raw, wire_type=wire_type)

    @property
    def item_id(self) -> str | None:
        """The conversation item this event is about, when it names one."""
        return _named_id(self.raw, "item")

    @property
    def response_id(self) -> str | None:
        return _named_id(self.raw, "response")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (audio payloads are already references)."""
        return {
            "type": self.type,
            "direction": self.direction,
            "time": self.time,
            "wire_type": self.wire_type,
            "raw": self.raw,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RealtimeEvent:
        try:
            raw = data["raw"]
            direction = data["direction"]
            time = data["time"]
        except KeyError as exc:
            raise ValueError(f"saved event is missing {exc.args[0]!r}: {data!r:.200}") from None
        return cls.from_raw(raw, direction, time)

    def __repr__(self) -> str:
        # Short on purpose: events are printed in notebooks and logs by the thousand.
        return f"RealtimeEvent({self.direction} {self.type!r} t={self.time:.3f}s)"


def _named_id(raw: dict[str, Any], kind: str) -> str | None:
    """The id of the `kind` object the event carries, else its `{kind}_id` field (ids are strings)."""
    nested = raw.get(kind)
    if isinstance(nested, dict) and nested.get("id"):
        value = nested["id"]
    else:
        value = raw.get(f"{kind}_id")
    return value if isinstance(value, str) else None


def audio_ref(stream: str, start: int, stop: int) -> str:
    """The reference string that stands for samples [start, stop) of an audio stream's WAV."""
    return f"@{stream}.wav[{start}:{stop}]"


def parse_audio_ref(value: object) -> tuple[str, int, int] | None:
    """(stream, start, stop) of an audio reference, or None when `value` is not one."""
    if not isinstance(value, str) or not value.startswith("@"):
        return None
    match = _AUDIO_REF.match(value)
    if match is None:
        return None
    return match.group(1), int(match.group(2)), int(match.group(3))
