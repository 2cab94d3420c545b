"""Session settings as the emulator keeps them: the wire shape of each protocol, validated.

A `session.update` is merged into a copy of the current session and the copy is validated as a
whole; on any problem `SessionError` names the offending `param` and the old session stays.
"""

from __future__ import annotations

import copy
from typing import Any

from ..protocol import (
    GA_AUDIO_FORMATS,
    MAX_OUTPUT_TOKENS,
    NOISE_REDUCTION_TYPES,
    PREVIEW_AUDIO_FORMATS,
    SAMPLE_RATE,
    SEMANTIC_VAD_EAGERNESS,
    SERVER_VAD_DEFAULTS,
    SPEED_RANGE,
    TEMPERATURE_RANGE,
    THRESHOLD_RANGE,
    TRANSCRIPTION_MODELS,
    VOICES,
    Protocol,
)

# Read-only fields the service echoes back; clients may send them unchanged.
_ECHO_FIELDS = {"id", "object", "model", "expires_at", "client_secret"}


class SessionError(ValueError):
    def __init__(self, param: str, message: str, code: str = "invalid_value") -> None:
        super().__init__(message)
        self.param = param
        self.code = code


def default_session(protocol: Protocol, deployment: str, session_id: str) -> dict[str, Any]:
    vad = dict(SERVER_VAD_DEFAULTS, idle_timeout_ms=None)
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


def apply_update(protocol: Protocol, current: dict[str, Any], patch: Any) -> dict[str, Any]:
    """The session after `patch`; raises SessionError and leaves `current` untouched on bad input."""
    if not isinstance(patch, dict):
        raise SessionError("session", "'session' must be an object")
    new = copy.deepcopy(current)
    if protocol == "ga":
        _merge_ga(new, patch)
    else:
        _merge_preview(new, patch)
    return new


# -- queries the session state machine uses --------------------------------------------------


def voice(protocol: Protocol, s: dict[str, Any]) -> str:
    return s["audio"]["output"]["voice"] if protocol == "ga" else s["voice"]


def text_only(protocol: Protocol, s: dict[str, Any]) -> bool:
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
            raise SessionError(param, f'{param} must be ["audio"] or ["text"], got {value!r}')
    else:
        if not isinstance(value, list) or not value or not set(value) <= {"text", "audio"}:
            raise SessionError(param, f'{param} must be ["text"] or ["text", "audio"], got {value!r}')
        if value == ["audio"]:
            raise SessionError(param, f'{param}: audio output needs text too; use ["text", "audio"]')
    return list(value)


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
} | _ECHO_FIELDS


def _merge_ga(s: dict[str, Any], patch: dict[str, Any]) -> None:
    _known(patch, _GA_TOP, "session")
    if "type" not in patch:
        raise SessionError(
            "session.type",
            "Missing required parameter: 'session.type' (use \"realtime\")",
            "missing_required_parameter",
        )
    if patch["type"] != "realtime":
        raise SessionError("session.type", f'session.type must be "realtime", got {patch["type"]!r}')
    for key, value in patch.items():
        if key in _ECHO_FIELDS or key == "type":
            continue
        param = f"session.{key}"
        if key == "instructions":
            s[key] = _str(value, param)
        elif key == "output_modalities":
            s[key] = modalities_valid("ga", value, param)
        elif key == "max_output_tokens":
            s[key] = _max_tokens(value, param)
        elif key == "tools":
            s[key] = _tools(value, param)
        elif key == "tool_choice":
            s[key] = _tool_choice(value, param)
        elif key == "audio":
            _merge_ga_audio(s["audio"], value)
        else:
            s[key] = value


def _merge_ga_audio(audio: dict[str, Any], patch: Any) -> None:
    _obj(patch, "session.audio")
    _known(patch, {"input", "output"}, "session.audio")
    if "input" in patch:
        inp = _obj(patch["input"], "session.audio.input")
        _known(inp, {"format", "transcription", "noise_reduction", "turn_detection"}, "session.audio.input")
        for key, value in inp.items():
            param = f"session.audio.input.{key}"
            if key == "format":
                audio["input"][key] = _ga_format(value, param)
            elif key == "transcription":
                audio["input"][key] = _transcription(value, param)
            elif key == "noise_reduction":
                audio["input"][key] = _noise_reduction(value, param)
            else:
                audio["input"][key] = _turn_detection(value, param, allow_none_type=False)
    if "output" in patch:
        out = _obj(patch["output"], "session.audio.output")
        _known(out, {"format", "voice", "speed"}, "session.audio.output")
        for key, value in out.items():
            param = f"session.audio.output.{key}"
            if key == "format":
                audio["output"][key] = _ga_format(value, param)
            elif key == "voice":
                audio["output"][key] = _voice(value, param)
            else:
                audio["output"][key] = _number(value, param, *SPEED_RANGE)


def _ga_format(value: Any, param: str) -> dict[str, Any]:
    _obj(value, param)
    _known(value, {"type", "rate"}, param)
    if value.get("type") not in GA_AUDIO_FORMATS:
        raise SessionError(f"{param}.type", f"{param}.type must be one of {', '.join(GA_AUDIO_FORMATS)}")
    if value["type"] == "audio/pcm":
        rate = value.get("rate", SAMPLE_RATE)
        if rate != SAMPLE_RATE:
            raise SessionError(
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


def _merge_preview(s: dict[str, Any], patch: dict[str, Any]) -> None:
    _known(patch, _PREVIEW_TOP, "session")
    for key, value in patch.items():
        if key in _ECHO_FIELDS:
            continue
        param = f"session.{key}"
        if key == "modalities":
            s[key] = modalities_valid("preview", value, param)
        elif key == "instructions":
            s[key] = _str(value, param)
        elif key == "voice":
            s[key] = _voice(value, param)
        elif key in ("input_audio_format", "output_audio_format"):
            if value not in PREVIEW_AUDIO_FORMATS:
                raise SessionError(
                    param, f"{param} must be one of {', '.join(PREVIEW_AUDIO_FORMATS)}, got {value!r}"
                )
            s[key] = value
        elif key == "input_audio_transcription":
            s[key] = _transcription(value, param)
        elif key == "input_audio_noise_reduction":
            s[key] = _noise_reduction(value, param)
        elif key == "turn_detection":
            s[key] = _turn_detection(value, param, allow_none_type=True)
        elif key == "tools":
            s[key] = _tools(value, param)
        elif key == "tool_choice":
            s[key] = _tool_choice(value, param, allow_name=True)
        elif key == "temperature":
            s[key] = _number(value, param, *TEMPERATURE_RANGE)
        elif key == "max_response_output_tokens":
            s[key] = _max_tokens(value, param)
        elif key == "speed":
            s[key] = _number(value, param, *SPEED_RANGE)
        else:
            s[key] = value


# -- shared pieces ----------------------------------------------------------------------------


def _turn_detection(value: Any, param: str, *, allow_none_type: bool) -> dict[str, Any] | None:
    if value is None:
        return None
    _obj(value, param)
    kind = value.get("type")
    if kind == "none" and allow_none_type:
        return {"type": "none"}
    if kind == "server_vad":
        allowed = {
            "type",
            "threshold",
            "prefix_padding_ms",
            "silence_duration_ms",
            "create_response",
            "interrupt_response",
            "idle_timeout_ms",
        }
        _known(value, allowed, param)
        td = dict(SERVER_VAD_DEFAULTS, idle_timeout_ms=None)
        for key, v in value.items():
            p = f"{param}.{key}"
            if key == "threshold":
                td[key] = _number(v, p, *THRESHOLD_RANGE)
            elif key in ("prefix_padding_ms", "silence_duration_ms"):
                td[key] = _int(v, p, 0, 10_000)
            elif key == "idle_timeout_ms":
                td[key] = None if v is None else _int(v, p, 5_000, 30_000)
            elif key in ("create_response", "interrupt_response"):
                td[key] = _bool(v, p)
        return td
    if kind == "semantic_vad":
        _known(value, {"type", "eagerness", "create_response", "interrupt_response"}, param)
        td = {
            "type": "semantic_vad",
            "eagerness": "auto",
            "create_response": True,
            "interrupt_response": True,
        }
        for key, v in value.items():
            p = f"{param}.{key}"
            if key == "eagerness":
                if v not in SEMANTIC_VAD_EAGERNESS:
                    raise SessionError(
                        p, f"{p} must be one of {', '.join(SEMANTIC_VAD_EAGERNESS)}, got {v!r}"
                    )
                td[key] = v
            elif key in ("create_response", "interrupt_response"):
                td[key] = _bool(v, p)
        return td
    kinds = "server_vad, semantic_vad" + (", none" if allow_none_type else "") + " (or null)"
    raise SessionError(f"{param}.type", f"{param}.type must be one of {kinds}, got {kind!r}")


def _transcription(value: Any, param: str) -> dict[str, Any] | None:
    if value is None:
        return None
    _obj(value, param)
    _known(value, {"model", "language", "prompt"}, param)
    model = value.get("model", "whisper-1")
    if model not in TRANSCRIPTION_MODELS:
        raise SessionError(
            f"{param}.model", f"{param}.model must be one of {', '.join(TRANSCRIPTION_MODELS)}, got {model!r}"
        )
    out: dict[str, Any] = {"model": model}
    for key in ("language", "prompt"):
        if key in value and value[key] is not None:
            out[key] = _str(value[key], f"{param}.{key}")
    return out


def _noise_reduction(value: Any, param: str) -> dict[str, Any] | None:
    if value is None:
        return None
    _obj(value, param)
    _known(value, {"type"}, param)
    if value.get("type") not in NOISE_REDUCTION_TYPES:
        raise SessionError(f"{param}.type", f"{param}.type must be one of {', '.join(NOISE_REDUCTION_TYPES)}")
    return {"type": value["type"]}


def _voice(value: Any, param: str) -> str:
    if value not in VOICES:
        raise SessionError(param, f"{param} must be one of {', '.join(VOICES)}, got {value!r}")
    return value


def _max_tokens(value: Any, param: str) -> int | str:
    if value == "inf":
        return value
    return _int(value, param, 1, MAX_OUTPUT_TOKENS)


def _tool_choice(value: Any, param: str, allow_name: bool = False) -> Any:
    # The preview session's tool_choice is a string: a mode, or the name of the function to force.
    if isinstance(value, str) and (value in ("auto", "none", "required") or (allow_name and value)):
        return value
    if isinstance(value, dict):
        return value
    raise SessionError(param, f'{param} must be "auto", "none", "required" or an object, got {value!r}')


def _known(d: dict[str, Any], allowed: set[str], param: str) -> None:
    for key in d:
        if key not in allowed:
            raise SessionError(f"{param}.{key}", f"Unknown parameter: '{param}.{key}'.", "unknown_parameter")


def _obj(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SessionError(param, f"{param} must be an object, got {type(value).__name__}", "invalid_type")
    return value


def _tools(value: Any, param: str) -> list[Any]:
    """A list of function tools, each with a name (what the emulator can call, see tools.py)."""
    if not isinstance(value, list):
        raise SessionError(param, f"{param} must be an array, got {type(value).__name__}", "invalid_type")
    for i, tool in enumerate(value):
        where = f"{param}[{i}]"
        if not isinstance(tool, dict):
            raise SessionError(where, f"{where} must be an object, got {type(tool).__name__}", "invalid_type")
        if tool.get("type", "function") != "function":
            raise SessionError(f"{where}.type", f"{where}.type must be 'function', got {tool.get('type')!r}")
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise SessionError(
                f"{where}.name", f"Missing required parameter: '{where}.name'.", "missing_required_parameter"
            )
        if not isinstance(tool.get("parameters", {}), dict):
            raise SessionError(
                f"{where}.parameters", f"{where}.parameters must be a JSON schema object", "invalid_type"
            )
    return value


def _str(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise SessionError(param, f"{param} must be a string, got {type(value).__name__}", "invalid_type")
    return value


def _bool(value: Any, param: str) -> bool:
    if not isinstance(value, bool):
        raise SessionError(param, f"{param} must be true or false, got {value!r}", "invalid_type")
    return value


def _number(value: Any, param: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SessionError(param, f"{param} must be a number, got {value!r}", "invalid_type")
    if not lo <= value <= hi:
        raise SessionError(param, f"{param} must be between {lo} and {hi}, got {value}")
    return float(value)


def _int(value: Any, param: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SessionError(param, f"{param} must be an integer, got {value!r}", "invalid_type")
    if not lo <= value <= hi:
        raise SessionError(param, f"{param} must be between {lo} and {hi}, got {value}")
    return value
