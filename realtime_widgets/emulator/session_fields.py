"""One session field's value, checked: each checker returns the value as the session keeps it, or
raises `ServiceError` naming the field's `param` (shared by both protocols' merges in session_config)."""

from __future__ import annotations

from typing import Any

from ..protocol import (
    MAX_OUTPUT_TOKENS,
    NOISE_REDUCTION_TYPES,
    SEMANTIC_VAD_EAGERNESS,
    SERVER_VAD_DEFAULTS,
    THRESHOLD_RANGE,
    TRANSCRIPTION_MODELS,
    VOICES,
)
from . import tool_schema
from .errors import ServiceError

REASONING_EFFORTS = ("minimal", "low", "medium", "high", "xhigh")


def error(param: str, message: str, code: str = "invalid_value") -> ServiceError:
    return ServiceError(message, code=code, param=param)


def turn_detection(value: Any, param: str, *, allow_none_type: bool) -> dict[str, Any] | None:
    if value is None:
        return None
    obj(value, param)
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
        known(value, allowed, param)
        td = dict(SERVER_VAD_DEFAULTS, idle_timeout_ms=None)
        for key, v in value.items():
            p = f"{param}.{key}"
            if key == "threshold":
                td[key] = number(v, p, *THRESHOLD_RANGE)
            elif key in ("prefix_padding_ms", "silence_duration_ms"):
                td[key] = integer(v, p, 0, 10_000)
            elif key == "idle_timeout_ms":
                td[key] = None if v is None else integer(v, p, 5_000, 30_000)
            elif key in ("create_response", "interrupt_response"):
                td[key] = boolean(v, p)
        return td
    if kind == "semantic_vad":
        known(value, {"type", "eagerness", "create_response", "interrupt_response"}, param)
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
                    raise error(p, f"{p} must be one of {', '.join(SEMANTIC_VAD_EAGERNESS)}, got {v!r}")
                td[key] = v
            elif key in ("create_response", "interrupt_response"):
                td[key] = boolean(v, p)
        return td
    kinds = "server_vad, semantic_vad" + (", none" if allow_none_type else "") + " (or null)"
    raise error(f"{param}.type", f"{param}.type must be one of {kinds}, got {kind!r}")


def transcription(value: Any, param: str) -> dict[str, Any] | None:
    if value is None:
        return None
    obj(value, param)
    known(value, {"model", "language", "prompt", "delay", "keywords", "languages"}, param)
    # On Azure the model is the name of a transcription model's deployment, so any name goes
    # (Azure's realtime reference: "the deployment name of the transcription model").
    model = value.get("model", TRANSCRIPTION_MODELS[0])
    if not isinstance(model, str) or not model.strip():
        raise error(
            f"{param}.model", f"{param}.model must be a deployment name (a non-empty string), got {model!r}"
        )
    out: dict[str, Any] = {"model": model}
    for key in ("language", "prompt", "delay"):
        if key in value and value[key] is not None:
            out[key] = string(value[key], f"{param}.{key}")
    for key in ("keywords", "languages"):
        if key in value and value[key] is not None:
            if not isinstance(value[key], list) or not all(isinstance(v, str) for v in value[key]):
                raise error(f"{param}.{key}", f"{param}.{key} must be an array of strings", "invalid_type")
            out[key] = list(value[key])
    return out


def noise_reduction(value: Any, param: str, current: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    obj(value, param)
    known(value, {"type", "strength"}, param)
    kind = value.get("type", (current or {}).get("type"))
    if kind not in NOISE_REDUCTION_TYPES:
        raise error(f"{param}.type", f"{param}.type must be one of {', '.join(NOISE_REDUCTION_TYPES)}")
    # "Defaults to 1 when noise reduction is first enabled; omitting strength preserves it" (SDK types).
    strength = (current or {}).get("strength", 1.0)
    if "strength" in value:
        strength = number(value["strength"], f"{param}.strength", 0.0, float("inf"))
    return {"type": kind, "strength": strength}


def reasoning(value: Any, param: str) -> dict[str, Any]:
    obj(value, param)
    known(value, {"effort"}, param)
    if "effort" in value and value["effort"] not in REASONING_EFFORTS:
        raise error(f"{param}.effort", f"{param}.effort must be one of {', '.join(REASONING_EFFORTS)}")
    return dict(value)


def voice(value: Any, param: str, allow_custom: bool = False) -> Any:
    if allow_custom and isinstance(value, dict):
        # GA voices may be custom voices given as {"id": "voice_..."} (SDK: RealtimeAudioConfigOutput.voice).
        known(value, {"id"}, param)
        if not isinstance(value.get("id"), str) or not value["id"]:
            raise error(f"{param}.id", f"{param}.id must be a voice id", "missing_required_parameter")
        return {"id": value["id"]}
    if value not in VOICES:
        raise error(param, f"{param} must be one of {', '.join(VOICES)}, got {value!r}")
    return value


def max_tokens(value: Any, param: str) -> int | str:
    if value == "inf":
        return value
    return integer(value, param, 1, MAX_OUTPUT_TOKENS)


def tool_choice(value: Any, param: str, allow_name: bool = False) -> Any:
    # The preview session's tool_choice is a string: a mode, or the name of the function to force.
    if isinstance(value, str) and (value in ("auto", "none", "required") or (allow_name and value)):
        return value
    if isinstance(value, dict):
        return value
    raise error(param, f'{param} must be "auto", "none", "required" or an object, got {value!r}')


def known(d: dict[str, Any], allowed: set[str], param: str) -> None:
    for key in d:
        if key not in allowed:
            raise error(f"{param}.{key}", f"Unknown parameter: '{param}.{key}'.", "unknown_parameter")


def obj(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise error(param, f"{param} must be an object, got {type(value).__name__}", "invalid_type")
    return value


def tools(value: Any, param: str) -> list[Any]:
    """Function tools, each with a name (what the emulator can call, see tools.py), and MCP servers."""
    if not isinstance(value, list):
        raise error(param, f"{param} must be an array, got {type(value).__name__}", "invalid_type")
    for i, tool in enumerate(value):
        where = f"{param}[{i}]"
        if not isinstance(tool, dict):
            raise error(where, f"{where} must be an object, got {type(tool).__name__}", "invalid_type")
        kind = tool.get("type", "function")
        if kind == "mcp":
            if not isinstance(tool.get("server_label"), str) or not tool["server_label"]:
                raise error(
                    f"{where}.server_label",
                    f"Missing required parameter: '{where}.server_label'.",
                    "missing_required_parameter",
                )
            if not isinstance(tool.get("server_url") or tool.get("connector_id"), str):
                raise error(
                    f"{where}.server_url",
                    f"{where} needs a 'server_url' or a 'connector_id'.",
                    "missing_required_parameter",
                )
            continue
        if kind != "function":
            raise error(f"{where}.type", f"{where}.type must be 'function' or 'mcp', got {kind!r}")
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise error(
                f"{where}.name", f"Missing required parameter: '{where}.name'.", "missing_required_parameter"
            )
        function_parameters(tool, f"{where}.parameters")
    return value


def function_parameters(tool: dict[str, Any], param: str) -> None:
    """A function's `parameters`: empty (no parameters), or a JSON Schema of type "object"."""
    schema = tool.get("parameters", {})
    if schema == {}:
        return
    try:
        tool_schema.check_parameters(schema, param)
    except tool_schema.SchemaProblem as exc:
        code = "invalid_type" if not isinstance(schema, dict) else "invalid_function_parameters"
        raise error(param, f"Invalid schema for function '{tool['name']}': {exc}.", code) from None


def string(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise error(param, f"{param} must be a string, got {type(value).__name__}", "invalid_type")
    return value


def boolean(value: Any, param: str) -> bool:
    if not isinstance(value, bool):
        raise error(param, f"{param} must be true or false, got {value!r}", "invalid_type")
    return value


def number(value: Any, param: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise error(param, f"{param} must be a number, got {value!r}", "invalid_type")
    if not lo <= value <= hi:
        raise error(param, f"{param} must be between {lo} and {hi}, got {value}")
    return float(value)


def integer(value: Any, param: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(param, f"{param} must be an integer, got {value!r}", "invalid_type")
    if not lo <= value <= hi:
        raise error(param, f"{param} must be between {lo} and {hi}, got {value}")
    return value
