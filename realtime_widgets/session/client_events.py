"""Client events as the wire wants them, grouped by family; no flow logic here.

Each builder returns the event dict; the session adds an `event_id` when it has none.
"""

from __future__ import annotations

from typing import Any


# -- session ------------------------------------------------------------------------------
def session_update(event_type: str, body: dict[str, Any], event_id: str) -> dict[str, Any]:
    """`session.update`, or preview's `transcription_session.update` (`event_type`)."""
    return {"type": event_type, "event_id": event_id, "session": body}


# -- input_audio_buffer -------------------------------------------------------------------
def input_audio_append_json(event_id: str, audio: str) -> str:
    """The append's wire JSON, made by hand: json.dumps of 100 ms of base64 per chunk costs more."""
    return '{"type":"input_audio_buffer.append","event_id":"' + event_id + '","audio":"' + audio + '"}'


def input_audio_append(event_id: str, audio: str) -> dict[str, Any]:
    """`audio` is base64 PCM16 at 24 kHz."""
    return {"type": "input_audio_buffer.append", "event_id": event_id, "audio": audio}


def input_audio_commit(event_id: str) -> dict[str, Any]:
    return {"type": "input_audio_buffer.commit", "event_id": event_id}


def input_audio_clear(event_id: str) -> dict[str, Any]:
    return {"type": "input_audio_buffer.clear", "event_id": event_id}


# -- conversation.item --------------------------------------------------------------------
def item_create(item: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    raw: dict[str, Any] = {"type": "conversation.item.create", "item": item}
    if event_id is not None:
        raw["event_id"] = event_id
    return raw


def user_text(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def function_output(call_id: str, output: str) -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": output}


def item_truncate(event_id: str, item_id: str, audio_end_ms: int) -> dict[str, Any]:
    return {
        "type": "conversation.item.truncate",
        "event_id": event_id,
        "item_id": item_id,
        "content_index": 0,
        "audio_end_ms": audio_end_ms,
    }


# -- response -----------------------------------------------------------------------------
def response_create(event_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"type": "response.create"}
    if event_id is not None:
        raw["event_id"] = event_id
    if overrides:
        raw["response"] = overrides
    return raw


def response_cancel() -> dict[str, Any]:
    return {"type": "response.cancel"}


def output_audio_buffer_clear(event_id: str) -> dict[str, Any]:
    """WebRTC/SIP only: the service stops the audio it is playing and truncates the item at what played."""
    return {"type": "output_audio_buffer.clear", "event_id": event_id}
