"""Wire-protocol facts shared by the client and the emulator.

Only definitions live here (names, shapes, limits), no I/O: the emulator and the client
both import this module and nothing else from each other.
"""

from __future__ import annotations

from typing import Any, Literal

Protocol = Literal["ga", "preview"]

# Audio on the wire: PCM16 little-endian mono.
SAMPLE_RATE = 24_000
BYTES_PER_SAMPLE = 2
CHUNK_MS = 100
# Output delta sizes the service sends: the first two are smaller so playback starts early.
OUTPUT_DELTA_BYTES = (4800, 7200, 12000)

MIN_COMMIT_MS = 100
MAX_APPEND_BYTES = 15 * 1024 * 1024
MAX_AUDIO_FILE_BYTES = 20 * 1024 * 1024  # audio chat completions, per request
MAX_OUTPUT_TOKENS = 4096

VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")
TRANSCRIPTION_MODELS = ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe")
NOISE_REDUCTION_TYPES = ("near_field", "far_field")
SEMANTIC_VAD_EAGERNESS = ("low", "medium", "high", "auto")

GA_AUDIO_FORMATS = ("audio/pcm", "audio/pcmu", "audio/pcma")
PREVIEW_AUDIO_FORMATS = ("pcm16", "g711_ulaw", "g711_alaw")
COMPLETION_OUTPUT_FORMATS = ("wav", "mp3", "flac", "opus", "pcm16")
COMPLETION_INPUT_FORMATS = ("wav", "mp3")

TEMPERATURE_RANGE = (0.6, 1.2)  # preview only; GA has no temperature
SPEED_RANGE = (0.25, 1.5)  # GA only
THRESHOLD_RANGE = (0.0, 1.0)

SERVER_VAD_DEFAULTS: dict[str, Any] = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 500,
    "create_response": True,
    "interrupt_response": True,
}

# api-version values the preview realtime path and the deployments chat path accept.
REALTIME_PREVIEW_API_VERSIONS = (
    "2024-10-01-preview",
    "2024-12-17",
    "2025-04-01-preview",
    "2025-08-28",
)
CHAT_API_VERSIONS = (
    "2024-10-01-preview",
    "2025-01-01-preview",
    "2025-03-01-preview",
    "2025-04-01-preview",
    "2024-10-21",
    "2025-08-28",
)
DEFAULT_PREVIEW_API_VERSION = "2025-04-01-preview"
DEFAULT_CHAT_API_VERSION = "2025-01-01-preview"

# Server event names that differ between the protocols. GA names are the one vocabulary
# the client exposes; preview names are translated on the way in.
PREVIEW_TO_GA_EVENTS = {
    "response.text.delta": "response.output_text.delta",
    "response.text.done": "response.output_text.done",
    "response.audio.delta": "response.output_audio.delta",
    "response.audio.done": "response.output_audio.done",
    "response.audio_transcript.delta": "response.output_audio_transcript.delta",
    "response.audio_transcript.done": "response.output_audio_transcript.done",
    "conversation.item.created": "conversation.item.added",
}
GA_TO_PREVIEW_EVENTS = {ga: preview for preview, ga in PREVIEW_TO_GA_EVENTS.items()}

# Both spellings reach a client: the SDK's GA types declare "text"/"audio" in
# response.content_part.* but "output_text"/"output_audio" in assistant items.
ASSISTANT_PART_KINDS = {"text": "text", "output_text": "text", "audio": "audio", "output_audio": "audio"}

# Preview transcription sessions name their session events apart; GA uses session.* for both kinds.
# Kept out of PREVIEW_TO_GA_EVENTS, whose reverse map names the emulator's ordinary session events.
PREVIEW_TRANSCRIPTION_TO_GA_EVENTS = {
    "transcription_session.created": "session.created",
    "transcription_session.updated": "session.updated",
}
SessionType = Literal["realtime", "transcription"]

CLIENT_EVENTS = (
    "session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "output_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.retrieve",
    "conversation.item.truncate",
    "conversation.item.delete",
    "response.create",
    "response.cancel",
)


def to_ga_event_type(event_type: str) -> str:
    """The GA name of a server event type (identity for names both protocols share)."""
    ga = PREVIEW_TO_GA_EVENTS.get(event_type)
    if ga is None:
        ga = PREVIEW_TRANSCRIPTION_TO_GA_EVENTS.get(event_type, event_type)
    return ga


def assistant_part_kind(part_type: object) -> str | None:
    """ "text" or "audio" for an assistant content part type in either spelling, else None."""
    return ASSISTANT_PART_KINDS.get(part_type) if isinstance(part_type, str) else None


def to_wire_event_type(event_type: str, protocol: Protocol) -> str:
    """The name a server event has on the given protocol's wire."""
    if protocol == "preview":
        return GA_TO_PREVIEW_EVENTS.get(event_type, event_type)
    return event_type
