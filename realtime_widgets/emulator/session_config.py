"""Session settings as the emulator keeps them: the wire shape of each protocol, validated.

A `session.update` is merged into a copy of the current session and the copy is validated as a
whole; on any problem `ServiceError` names the offending `param` and the old session stays. The
checks of single fields are in session_fields.py.
"""

from __future__ import annotations

import copy
from typing import Any

from ..protocol import (
    GA_AUDIO_FORMATS,
    PREVIEW_AUDIO_FORMATS,
    SAMPLE_RATE,
    SERVER_VAD_DEFAULTS,
    SPEED_RANGE,
    TEMPERATURE_RANGE,
    VOICES,
    Protocol,
)
from . import session_fields as fields

# Read-only fields the service echoes back; clients may send them unchanged.
_ECHO_FIELDS = {"id", "object", "model", "expires_at", "client_secret"}


def default_session(
    protocol: Protocol, deployment: str, session_id: str, kind: str = "realtime"
) -> dict[str, Any]:
    vad = dict(SERVER_VAD_DEFAULTS, idle_timeout_ms=None)
    if kind == "transcription":
        return _default_transcription_session(protocol, session_id, vad)
    if protocol == "ga":
        return {
            "type": "realtime",
            "object": "realtime.session",
            "id": session_id,
            "model": deployment,
            "output_modalities": ["audio"],
            "instructions": "",
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "tracing": None,
            "prompt": None,
            "expires_at": 0,
            "include": None,
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": SAMPLE_RATE},
                    "transcription": None,
                    "noise_reduction": None,
                    "turn_detection": vad,
                },
                "output": {
                    "format": {"type": "audio/pcm", "rate": SAMPLE_RATE},
                    "voice": "alloy",
                    "speed": 1.0,
                },
            },
        }
    return {
        "id": session_id,
        "object": "realtime.session",
        "model": deployment,
        "expires_at": 0,
        "modalities": ["text", "audio"],
        "instructions": "",
        "voice": "alloy",
        "input_audio_format": "pcm16",
        "output_audio_format": "pcm16",
        "input_audio_transcription": None,
        "input_audio_noise_reduction": None,
        "turn_detection": vad,
        "tools": [],
        "tool_choice": "auto",
        "temperature": 0.8,
        "max_response_output_tokens": "inf",
    }


def _default_transcription_session(
    protocol: Protocol, session_id: str, vad: dict[str, Any]
) -> dict[str, Any]:
    head = {"id": session_id, "object": "realtime.transcription_session", "expires_at": 0, "include": None}
    if protocol == "ga":
        fmt = {"type": "audio/pcm", "rate": SAMPLE_RATE}
        audio_in = {"format": fmt, "transcription": None, "noise_reduction": None, "turn_detection": vad}
        return {"type": "transcription", **head, "audio": {"input": audio_in}}
    # The preview SDK type requires client_secret (it doubles as the REST reply); a WebSocket session has none.
    return {
        **head,
        "client_secret": {"value": "", "expires_at": 0},
        "modalities": ["text"],
        "input_audio_format": "pcm16",
        "input_audio_transcription": None,
        "input_audio_noise_reduction": None,
        "turn_detection": vad,
    }


def apply_update(
    protocol: Protocol, current: dict[str, Any], patch: Any, kind: str = "realtime"
) -> dict[str, Any]:
    """The session after `patch`; raises ServiceError and leaves `current` untouched on bad input."""
    if not isinstance(patch, dict):
        raise fields.error("session", "'session' must be an object")
    new = copy.deepcopy(current)
    if protocol == "ga":
        _merge_ga(new, patch, kind)
    elif kind == "transcription":
        _merge_preview(new, patch, _PREVIEW_TRANSCRIPTION_TOP)
    else:
        _merge_preview(new, patch)
    return new


GA_FORMAT_NAMES = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}


def audio_format(protocol: Protocol, s: dict[str, Any], direction: str) -> str:
    """The session's "input" or "output" audio format by its preview name (pcm16, g711_ulaw, g711_alaw)."""
    if protocol == "ga":
        return GA_FORMAT_NAMES[s["audio"][direction]["format"]["type"]]
    return s["input_audio_format" if direction == "input" else "output_audio_format"]


# -- queries the session state machine uses --------------------------------------------------


def voice(protocol: Protocol, s: dict[str, Any]) -> str:
    """The voice's name (a custom voice given as `{"id": ...}` by its id)."""
    value = s["audio"]["output"]["voice"] if protocol == "ga" else s["voice"]
    return value["id"] if isinstance(value, dict) else value


def text_only(protocol: Protocol, s: dict[str, Any]) -> bool:
    if "audio" not in s and "modalities" not in s and "output_modalities" not in s:
        return True
    mods = s["output_modalities"] if protocol == "ga" else s["modalities"]
    return "audio" not in mods


def turn_detection(protocol: Protocol, s: dict[str, Any]) -> dict[str, Any] | None:
    td = s["audio"]["input"]["turn_detection"] if protocol == "ga" else s["turn_detection"]
    if td is None or td.get("type") == "none":
        return None
    return td


def transcription(protocol: Protocol, s: dict[str, Any]) -> dict[str, Any] | None:
    return s["audio"]["input"]["transcription"] if protocol == "ga" else s["input_audio_transcription"]


def instructions(s: dict[str, Any]) -> str:
    return s.get("instructions") or ""


def modalities_valid(protocol: Protocol, value: Any, param: str) -> list[str]:
    """Validate per-response modalities (GA `output_modalities`, preview `modalities`)."""
    if protocol == "ga":
        if value not in (["audio"], ["text"]):
            raise fields.error(param, f'{param} must be ["audio"] or ["text"], got {value!r}')
    else:
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, str) for v in value)
            or not set(value) <= {"text", "audio"}
        ):
            raise fields.error(param, f'{param} must be ["text"] or ["text", "audio"], got {value!r}')
        if value == ["audio"]:
            raise fields.error(param, f'{param}: audio output needs text too; use ["text", "audio"]')
    return list(value)


def check_response(protocol: Protocol, options: dict[str, Any]) -> None:
    """The session fields a `response.create` may override for itself, checked like session.update's,
    so a bad value is an error before the response starts (its voice, format and `input` are read by
    the responder)."""
    ga = protocol == "ga"
    if "tools" in options:
        fields.tools(options["tools"], "response.tools")
    if "tool_choice" in options:
        fields.tool_choice(options["tool_choice"], "response.tool_choice", allow_name=not ga)
    limit_key = "max_output_tokens" if ga else "max_response_output_tokens"
    if limit_key in options:
        fields.max_tokens(options[limit_key], f"response.{limit_key}")
    if options.get("conversation") is not None:
        conversation = options["conversation"]
        if not isinstance(conversation, str) or not conversation:
            raise fields.error(
                "response.conversation", 'response.conversation must be "auto" or "none"', "invalid_type"
            )
    if options.get("metadata") is not None:
        fields.obj(options["metadata"], "response.metadata")
    if not ga and "temperature" in options:
        fields.number(options["temperature"], "response.temperature", *TEMPERATURE_RANGE)
    if ga and options.get("audio") is not None:
        audio = fields.obj(options["audio"], "response.audio")
        fields.known(audio, {"output"}, "response.audio")
        if audio.get("output") is not None:
            fields.known(
                fields.obj(audio["output"], "response.audio.output"),
                {"format", "voice"},
                "response.audio.output",
            )


# -- GA ---------------------------------------------------------------------------------------

_GA_TOP = {
    "type",
    "instructions",
    "output_modalities",
    "audio",
    "max_output_tokens",
    "tools",
    "tool_choice",
    "tracing",
    "truncation",
    "prompt",
    "include",
    "parallel_tool_calls",
    "reasoning",
} | _ECHO_FIELDS
_GA_TRANSCRIPTION_TOP = {"type", "audio", "include"} | _ECHO_FIELDS


def _merge_ga(s: dict[str, Any], patch: dict[str, Any], kind: str) -> None:
    if "type" not in patch:
        raise fields.error(
            "session.type",
            f"Missing required parameter: 'session.type' (use \"{kind}\")",
            "missing_required_parameter",
        )
    if patch["type"] in ("realtime", "transcription") and patch["type"] != kind:
        # Azure and OpenAI fix a session's type when it connects (intent=transcription on the URL).
        raise fields.error(
            "session.type",
            f"Passing a {patch['type']} session update event to a {kind} session is not allowed.",
            "invalid_parameter",
        )
    if patch["type"] != kind:
        raise fields.error("session.type", f'session.type must be "{kind}", got {patch["type"]!r}')
    fields.known(patch, _GA_TOP if kind == "realtime" else _GA_TRANSCRIPTION_TOP, "session")
    for key, value in patch.items():
        if key in _ECHO_FIELDS or key == "type":
            continue
        param = f"session.{key}"
        if key == "instructions":
            s[key] = fields.string(value, param)
        elif key == "output_modalities":
            s[key] = modalities_valid("ga", value, param)
        elif key == "max_output_tokens":
            s[key] = fields.max_tokens(value, param)
        elif key == "tools":
            s[key] = fields.tools(value, param)
        elif key == "tool_choice":
            s[key] = fields.tool_choice(value, param)
        elif key == "audio":
            _merge_ga_audio(s["audio"], value)
        elif key == "parallel_tool_calls":
            s[key] = fields.boolean(value, param)
        elif key == "reasoning":
            s[key] = fields.reasoning(value, param)
        else:
            s[key] = value


def _merge_ga_audio(audio: dict[str, Any], patch: Any) -> None:
    fields.obj(patch, "session.audio")
    fields.known(patch, set(audio), "session.audio")
    if "input" in patch:
        inp = fields.obj(patch["input"], "session.audio.input")
        fields.known(
            inp, {"format", "transcription", "noise_reduction", "turn_detection"}, "session.audio.input"
        )
        for key, value in inp.items():
            param = f"session.audio.input.{key}"
            if key == "format":
                audio["input"][key] = ga_format(value, param)
            elif key == "transcription":
                audio["input"][key] = fields.transcription(value, param)
            elif key == "noise_reduction":
                audio["input"][key] = fields.noise_reduction(value, param, audio["input"].get(key))
            else:
                audio["input"][key] = fields.turn_detection(value, param, allow_none_type=False)
    if "output" in patch:
        out = fields.obj(patch["output"], "session.audio.output")
        fields.known(out, {"format", "voice", "speed"}, "session.audio.output")
        for key, value in out.items():
            param = f"session.audio.output.{key}"
            if key == "format":
                audio["output"][key] = ga_format(value, param)
            elif key == "voice":
                audio["output"][key] = fields.voice(value, param, allow_custom=True)
            else:
                audio["output"][key] = fields.number(value, param, *SPEED_RANGE)


def ga_format(value: Any, param: str) -> dict[str, Any]:
    fields.obj(value, param)
    fields.known(value, {"type", "rate"}, param)
    if value.get("type") not in GA_AUDIO_FORMATS:
        raise fields.error(f"{param}.type", f"{param}.type must be one of {', '.join(GA_AUDIO_FORMATS)}")
    if value["type"] == "audio/pcm":
        rate = value.get("rate", SAMPLE_RATE)
        if rate != SAMPLE_RATE:
            raise fields.error(
                f"{param}.rate", f"{param}.rate must be {SAMPLE_RATE} for audio/pcm, got {rate!r}"
            )
        return {"type": "audio/pcm", "rate": SAMPLE_RATE}
    return {"type": value["type"]}


# -- preview ----------------------------------------------------------------------------------

_PREVIEW_TOP = {
    "modalities",
    "instructions",
    "voice",
    "input_audio_format",
    "output_audio_format",
    "input_audio_transcription",
    "input_audio_noise_reduction",
    "turn_detection",
    "tools",
    "tool_choice",
    "temperature",
    "max_response_output_tokens",
    "speed",
    "tracing",
} | _ECHO_FIELDS


def _merge_preview(s: dict[str, Any], patch: dict[str, Any], allowed: set[str] = _PREVIEW_TOP) -> None:
    fields.known(patch, allowed, "session")
    for key, value in patch.items():
        if key in _ECHO_FIELDS:
            continue
        param = f"session.{key}"
        if key == "modalities":
            s[key] = modalities_valid("preview", value, param)
        elif key == "instructions":
            s[key] = fields.string(value, param)
        elif key == "voice":
            s[key] = fields.voice(value, param)
        elif key in ("input_audio_format", "output_audio_format"):
            if value not in PREVIEW_AUDIO_FORMATS:
                raise fields.error(
                    param, f"{param} must be one of {', '.join(PREVIEW_AUDIO_FORMATS)}, got {value!r}"
                )
            s[key] = value
        elif key == "input_audio_transcription":
            s[key] = fields.transcription(value, param)
        elif key == "input_audio_noise_reduction":
            s[key] = fields.noise_reduction(value, param, s.get(key))
        elif key == "turn_detection":
            s[key] = fields.turn_detection(value, param, allow_none_type=True)
        elif key == "tools":
            s[key] = fields.tools(value, param)
            if mcp_servers(s):
                raise fields.error(
                    f"{param}.type", f"{param}: MCP tools need the GA protocol (/openai/v1/realtime)"
                )
        elif key == "tool_choice":
            s[key] = fields.tool_choice(value, param, allow_name=True)
        elif key == "temperature":
            s[key] = fields.number(value, param, *TEMPERATURE_RANGE)
        elif key == "max_response_output_tokens":
            s[key] = fields.max_tokens(value, param)
        elif key == "speed":
            s[key] = fields.number(value, param, *SPEED_RANGE)
        else:
            s[key] = value


_PREVIEW_TRANSCRIPTION_TOP = {
    "input_audio_format",
    "input_audio_transcription",
    "input_audio_noise_reduction",
    "turn_detection",
    "include",
    "modalities",
    "client_secret",
} | _ECHO_FIELDS


def spoken_voice(name: str) -> str:
    """The eSpeak voice that speaks `name`: custom voice ids get the default voice."""
    return name if name in VOICES else "alloy"


def voice_name(value: Any, param: str) -> str:
    """A voice as the emulator speaks it: a built-in name, or a custom voice's id (spoken as alloy)."""
    checked = fields.voice(value, param, allow_custom=True)
    return checked["id"] if isinstance(checked, dict) else checked


def mcp_servers(s: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in s.get("tools") or [] if isinstance(t, dict) and t.get("type") == "mcp"]
