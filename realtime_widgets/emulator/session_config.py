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
from .errors import ServiceError

# Read-only fields the service echoes back; clients may send them unchanged.
_ECHO_FIELDS = {"id", "object", "model", "expires_at", "client_secret"}


def _error(param: str, message: str, code: str = "invalid_value") -> ServiceError:
    return ServiceError(message, code=code, param=param)


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
        raise _error("session", "'session' must be an object")
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
            raise _error(param, f'{param} must be ["audio"] or ["text"], got {value!r}')
    else:
        if not isinstance(value, list) or not value or not set(value) <= {"text", "audio"}:
            raise _error(param, f'{param} must be ["text"] or ["text", "audio"], got {value!r}')
        if value == ["audio"]:
            raise _error(param, f'{param}: audio output needs text too; use ["text", "audio"]')
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
    "parallel_tool_calls",
    "reasoning",
} | _ECHO_FIELDS
_GA_TRANSCRIPTION_TOP = {"type", "audio", "include"} | _ECHO_FIELDS
_REASONING_EFFORTS = ("minimal", "low", "medium", "high", "xhigh")


def _merge_ga(s: dict[str, Any], patch: dict[str, Any], kind: str) -> None:
    if "type" not in patch:
        raise _error(
            "session.type",
            f"Missing required parameter: 'session.type' (use \"{kind}\")",
            "missing_required_parameter",
        )
    if patch["type"] in ("realtime", "transcription") and patch["type"] != kind:
        # Azure and OpenAI fix a session's type when it connects (intent=transcription on the URL).
        raise _error(
            "session.type",
            f"Passing a {patch['type']} session update event to a {kind} session is not allowed.",
            "invalid_parameter",
        )
    if patch["type"] != kind:
        raise _error("session.type", f'session.type must be "{kind}", got {patch["type"]!r}')
    _known(patch, _GA_TOP if kind == "realtime" else _GA_TRANSCRIPTION_TOP, "session")
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
        elif key == "parallel_tool_calls":
            s[key] = _bool(value, param)
        elif key == "reasoning":
            s[key] = _reasoning(value, param)
        else:
            s[key] = value


def _merge_ga_audio(audio: dict[str, Any], patch: Any) -> None:
    _obj(patch, "session.audio")
    _known(patch, set(audio), "session.audio")
    if "input" in patch:
        inp = _obj(patch["input"], "session.audio.input")
        _known(inp, {"format", "transcription", "noise_reduction", "turn_detection"}, "session.audio.input")
        for key, value in inp.items():
            param = f"session.audio.input.{key}"
            if key == "format":
                audio["input"][key] = ga_format(value, param)
            elif key == "transcription":
                audio["input"][key] = _transcription(value, param)
            elif key == "noise_reduction":
                audio["input"][key] = _noise_reduction(value, param, audio["input"].get(key))
            else:
                audio["input"][key] = _turn_detection(value, param, allow_none_type=False)
    if "output" in patch:
        out = _obj(patch["output"], "session.audio.output")
        _known(out, {"format", "voice", "speed"}, "session.audio.output")
        for key, value in out.items():
            param = f"session.audio.output.{key}"
            if key == "format":
                audio["output"][key] = ga_format(value, param)
            elif key == "voice":
                audio["output"][key] = _voice(value, param, allow_custom=True)
            else:
                audio["output"][key] = _number(value, param, *SPEED_RANGE)


def ga_format(value: Any, param: str) -> dict[str, Any]:
    _obj(value, param)
    _known(value, {"type", "rate"}, param)
    if value.get("type") not in GA_AUDIO_FORMATS:
        raise _error(f"{param}.type", f"{param}.type must be one of {', '.join(GA_AUDIO_FORMATS)}")
    if value["type"] == "audio/pcm":
        rate = value.get("rate", SAMPLE_RATE)
        if rate != SAMPLE_RATE:
            raise _error(f"{param}.rate", f"{param}.rate must be {SAMPLE_RATE} for audio/pcm, got {rate!r}")
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
    _known(patch, allowed, "session")
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
                raise _error(
                    param, f"{param} must be one of {', '.join(PREVIEW_AUDIO_FORMATS)}, got {value!r}"
                )
            s[key] = value
        elif key == "input_audio_transcription":
            s[key] = _transcription(value, param)
        elif key == "input_audio_noise_reduction":
            s[key] = _noise_reduction(value, param, s.get(key))
        elif key == "turn_detection":
            s[key] = _turn_detection(value, param, allow_none_type=True)
        elif key == "tools":
            s[key] = _tools(value, param)
            if mcp_servers(s):
                raise _error(
                    f"{param}.type", f"{param}: MCP tools need the GA protocol (/openai/v1/realtime)"
                )
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


_PREVIEW_TRANSCRIPTION_TOP = {
    "input_audio_format",
    "input_audio_transcription",
    "input_audio_noise_reduction",
    "turn_detection",
    "include",
    "modalities",
    "client_secret",
} | _ECHO_FIELDS


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
                    raise _error(p, f"{p} must be one of {', '.join(SEMANTIC_VAD_EAGERNESS)}, got {v!r}")
                td[key] = v
            elif key in ("create_response", "interrupt_response"):
                td[key] = _bool(v, p)
        return td
    kinds = "server_vad, semantic_vad" + (", none" if allow_none_type else "") + " (or null)"
    raise _error(f"{param}.type", f"{param}.type must be one of {kinds}, got {kind!r}")


def _transcription(value: Any, param: str) -> dict[str, Any] | None:
    if value is None:
        return None
    _obj(value, param)
    _known(value, {"model", "language", "prompt", "delay", "keywords", "languages"}, param)
    # On Azure the model is the name of a transcription model's deployment, so any name goes
    # (Azure's realtime reference: "the deployment name of the transcription model").
    model = value.get("model", TRANSCRIPTION_MODELS[0])
    if not isinstance(model, str) or not model.strip():
        raise _error(
            f"{param}.model", f"{param}.model must be a deployment name (a non-empty string), got {model!r}"
        )
    out: dict[str, Any] = {"model": model}
    for key in ("language", "prompt", "delay"):
        if key in value and value[key] is not None:
            out[key] = _str(value[key], f"{param}.{key}")
    for key in ("keywords", "languages"):
        if key in value and value[key] is not None:
            if not isinstance(value[key], list) or not all(isinstance(v, str) for v in value[key]):
                raise _error(f"{param}.{key}", f"{param}.{key} must be an array of strings", "invalid_type")
            out[key] = list(value[key])
    return out


def _noise_reduction(value: Any, param: str, current: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    _obj(value, param)
    _known(value, {"type", "strength"}, param)
    kind = value.get("type", (current or {}).get("type"))
    if kind not in NOISE_REDUCTION_TYPES:
        raise _error(f"{param}.type", f"{param}.type must be one of {', '.join(NOISE_REDUCTION_TYPES)}")
    # "Defaults to 1 when noise reduction is first enabled; omitting strength preserves it" (SDK types).
    strength = (current or {}).get("strength", 1.0)
    if "strength" in value:
        strength = _number(value["strength"], f"{param}.strength", 0.0, float("inf"))
    return {"type": kind, "strength": strength}


def _reasoning(value: Any, param: str) -> dict[str, Any]:
    _obj(value, param)
    _known(value, {"effort"}, param)
    if "effort" in value and value["effort"] not in _REASONING_EFFORTS:
        raise _error(f"{param}.effort", f"{param}.effort must be one of {', '.join(_REASONING_EFFORTS)}")
    return dict(value)


def spoken_voice(name: str) -> str:
    """The eSpeak voice that speaks `name`: custom voice ids get the default voice."""
    return name if name in VOICES else "alloy"


def voice_name(value: Any, param: str) -> str:
    """A voice as the emulator speaks it: a built-in name, or a custom voice's id (spoken as alloy)."""
    checked = _voice(value, param, allow_custom=True)
    return checked["id"] if isinstance(checked, dict) else checked


def _voice(value: Any, param: str, allow_custom: bool = False) -> Any:
    if allow_custom and isinstance(value, dict):
        # GA voices may be custom voices given as {"id": "voice_..."} (SDK: RealtimeAudioConfigOutput.voice).
        _known(value, {"id"}, param)
        if not isinstance(value.get("id"), str) or not value["id"]:
            raise _error(f"{param}.id", f"{param}.id must be a voice id", "missing_required_parameter")
        return {"id": value["id"]}
    if value not in VOICES:
        raise _error(param, f"{param} must be one of {', '.join(VOICES)}, got {value!r}")
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
    raise _error(param, f'{param} must be "auto", "none", "required" or an object, got {value!r}')


def _known(d: dict[str, Any], allowed: set[str], param: str) -> None:
    for key in d:
        if key not in allowed:
            raise _error(f"{param}.{key}", f"Unknown parameter: '{param}.{key}'.", "unknown_parameter")


def _obj(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _error(param, f"{param} must be an object, got {type(value).__name__}", "invalid_type")
    return value


def _tools(value: Any, param: str) -> list[Any]:
    """Function tools, each with a name (what the emulator can call, see tools.py), and MCP servers."""
    if not isinstance(value, list):
        raise _error(param, f"{param} must be an array, got {type(value).__name__}", "invalid_type")
    for i, tool in enumerate(value):
        where = f"{param}[{i}]"
        if not isinstance(tool, dict):
            raise _error(where, f"{where} must be an object, got {type(tool).__name__}", "invalid_type")
        kind = tool.get("type", "function")
        if kind == "mcp":
            if not isinstance(tool.get("server_label"), str) or not tool["server_label"]:
                raise _error(
                    f"{where}.server_label",
                    f"Missing required parameter: '{where}.server_label'.",
                    "missing_required_parameter",
                )
            if not isinstance(tool.get("server_url") or tool.get("connector_id"), str):
                raise _error(
                    f"{where}.server_url",
                    f"{where} needs a 'server_url' or a 'connector_id'.",
                    "missing_required_parameter",
                )
            continue
        if kind != "function":
            raise _error(f"{where}.type", f"{where}.type must be 'function' or 'mcp', got {kind!r}")
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise _error(
                f"{where}.name", f"Missing required parameter: '{where}.name'.", "missing_required_parameter"
            )
        if not isinstance(tool.get("parameters", {}), dict):
            raise _error(
                f"{where}.parameters", f"{where}.parameters must be a JSON schema object", "invalid_type"
            )
    return value


def mcp_servers(s: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in s.get("tools") or [] if isinstance(t, dict) and t.get("type") == "mcp"]


def _str(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise _error(param, f"{param} must be a string, got {type(value).__name__}", "invalid_type")
    return value


def _bool(value: Any, param: str) -> bool:
    if not isinstance(value, bool):
        raise _error(param, f"{param} must be true or false, got {value!r}", "invalid_type")
    return value


def _number(value: Any, param: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _error(param, f"{param} must be a number, got {value!r}", "invalid_type")
    if not lo <= value <= hi:
        raise _error(param, f"{param} must be between {lo} and {hi}, got {value}")
    return float(value)


def _int(value: Any, param: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _error(param, f"{param} must be an integer, got {value!r}", "invalid_type")
    if not lo <= value <= hi:
        raise _error(param, f"{param} must be between {lo} and {hi}, got {value}")
    return value
