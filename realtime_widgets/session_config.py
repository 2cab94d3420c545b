"""`SessionConfig`: the realtime session settings, validated locally, serialised per protocol.

Validation happens on construction, on `replace()` and on attribute assignment, so a bad value is
reported where it was written (with the allowed range) instead of as a server `error` event later.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .protocol import (
    MAX_OUTPUT_TOKENS,
    NOISE_REDUCTION_TYPES,
    SAMPLE_RATE,
    SEMANTIC_VAD_EAGERNESS,
    SERVER_VAD_DEFAULTS,
    SPEED_RANGE,
    TEMPERATURE_RANGE,
    THRESHOLD_RANGE,
    TRANSCRIPTION_MODELS,
    VOICES,
    Protocol,
    SessionType,
)

__all__ = ["DEFAULT_INSTRUCTIONS", "SessionConfig"]

DEFAULT_INSTRUCTIONS = "You are a helpful, friendly voice assistant. Keep your answers short."
TurnDetection = Literal["server_vad", "semantic_vad", "manual"]
_TURN_DETECTION = ("server_vad", "semantic_vad", "manual")
_TOOL_CHOICE_MODES = ("auto", "none", "required")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
_MAX_PADDING_MS = 10_000
_SESSION_TYPES = ("realtime", "transcription")
# On Azure the transcription model is a deployment's name: letters, digits, '-', '_', '.' (64 at most).
_MODEL_OR_DEPLOYMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _check_range(name: str, value: Any, lo: float, hi: float, *, integer: bool = False) -> None:
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind):
        what = "an integer" if integer else "a number"
        raise TypeError(f"SessionConfig.{name} must be {what} between {lo} and {hi}, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"SessionConfig.{name}={value!r} is out of range; allowed: {lo} to {hi}")


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(
            f"SessionConfig.{name}={value!r} is not allowed; choose one of: {', '.join(allowed)}"
        )


def _normalise_tool(tool: Any) -> dict[str, Any]:
    if not isinstance(tool, Mapping):
        raise TypeError(f"SessionConfig.tools entries must be dicts, got {type(tool).__name__}: {tool!r}")
    out: dict[str, Any] = dict(tool)
    if out.get("type", "function") == "function" and isinstance(out.get("function"), Mapping):
        # Chat-completions style {"type": "function", "function": {...}} → the realtime flat style.
        out = {"type": "function", **dict(out["function"])}
    out.setdefault("type", "function")
    if out["type"] == "function" and not (isinstance(out.get("name"), str) and out["name"]):
        raise ValueError(f"SessionConfig.tools: a function tool needs a non-empty 'name', got {out!r}")
    return out


@dataclass
class SessionConfig:
    instructions: str = DEFAULT_INSTRUCTIONS
    voice: str = "alloy"
    output_modalities: tuple[str, ...] = ("audio",)
    temperature: float | None = None  # preview only (0.6–1.2)
    speed: float | None = None  # GA only (0.25–1.5)
    max_output_tokens: int | Literal["inf"] | None = None
    turn_detection: TurnDetection = "server_vad"
    threshold: float = SERVER_VAD_DEFAULTS["threshold"]
    prefix_padding_ms: int = SERVER_VAD_DEFAULTS["prefix_padding_ms"]
    silence_duration_ms: int = SERVER_VAD_DEFAULTS["silence_duration_ms"]
    create_response: bool = True
    interrupt_response: bool = True
    eagerness: str = "auto"
    transcription_model: str | None = None
    transcription_language: str | None = None
    transcription_prompt: str | None = None
    noise_reduction: Literal["near_field", "far_field"] | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: str = "auto"
    # "transcription": a transcription-only session (live captions): no responses, no voice.
    type: SessionType = "realtime"

    def __post_init__(self) -> None:
        self._normalise()
        self._validate()
        object.__setattr__(self, "_ready", True)

    def __setattr__(self, name: str, value: Any) -> None:
        # After construction, assignments are validated too (a widget may set one field).
        if not getattr(self, "_ready", False) or name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        old = getattr(self, name)
        object.__setattr__(self, name, value)
        try:
            self._normalise()
            self._validate()
        except (TypeError, ValueError):
            object.__setattr__(self, name, old)
            raise

    # --- validation -------------------------------------------------------------------------

    def _normalise(self) -> None:
        mods = self.output_modalities
        if isinstance(mods, str):
            mods = (mods,)
        mods = tuple(mods) if isinstance(mods, (list, tuple)) else mods
        if isinstance(mods, tuple) and set(mods) == {"text", "audio"}:
            mods = ("audio",)  # audio output always comes with its transcript
        object.__setattr__(self, "output_modalities", mods)
        for name in (
            "transcription_model",
            "transcription_language",
            "transcription_prompt",
            "noise_reduction",
        ):
            if getattr(self, name) == "":  # form widgets use "" for "off"
                object.__setattr__(self, name, None)
        if self.turn_detection in (None, "none"):
            object.__setattr__(self, "turn_detection", "manual")
        if isinstance(self.tools, (list, tuple)):
            object.__setattr__(self, "tools", [_normalise_tool(t) for t in self.tools])
        if isinstance(self.threshold, int) and not isinstance(self.threshold, bool):
            object.__setattr__(self, "threshold", float(self.threshold))

    def _validate(self) -> None:
        if not isinstance(self.instructions, str):
            raise TypeError(f"SessionConfig.instructions must be a string, got {self.instructions!r}")
        _check_choice("voice", self.voice, VOICES)
        if self.output_modalities not in (("audio",), ("text",)):
            raise ValueError(
                f"SessionConfig.output_modalities={self.output_modalities!r} is not allowed; use ('audio',) "
                "(speech with its transcript) or ('text',)"
            )
        if self.temperature is not None:
            _check_range("temperature", self.temperature, *TEMPERATURE_RANGE)
        if self.speed is not None:
            _check_range("speed", self.speed, *SPEED_RANGE)
        if self.max_output_tokens is not None and self.max_output_tokens != "inf":
            _check_range("max_output_tokens", self.max_output_tokens, 1, MAX_OUTPUT_TOKENS, integer=True)
        _check_choice("turn_detection", self.turn_detection, _TURN_DETECTION)
        _check_range("threshold", self.threshold, *THRESHOLD_RANGE)
        _check_range("prefix_padding_ms", self.prefix_padding_ms, 0, _MAX_PADDING_MS, integer=True)
        _check_range("silence_duration_ms", self.silence_duration_ms, 0, _MAX_PADDING_MS, integer=True)
        for name in ("create_response", "interrupt_response"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"SessionConfig.{name} must be True or False, got {getattr(self, name)!r}")
        _check_choice("eagerness", self.eagerness, SEMANTIC_VAD_EAGERNESS)
        _check_choice("type", self.type, _SESSION_TYPES)
        if self.transcription_model is not None:
            if not (
                isinstance(self.transcription_model, str)
                and _MODEL_OR_DEPLOYMENT.match(self.transcription_model)
            ):
                raise ValueError(
                    f"SessionConfig.transcription_model={self.transcription_model!r} is not a model or deployment "
                    f"name; use one of {', '.join(TRANSCRIPTION_MODELS)} or, on Azure, the name of your "
                    "transcription deployment (letters, digits, '-', '_', '.')"
                )
        elif self.type == "transcription":
            raise ValueError(
                "SessionConfig(type='transcription') needs transcription_model: one of "
                f"{', '.join(TRANSCRIPTION_MODELS)} or, on Azure, the name of your transcription deployment"
            )
        elif self.transcription_language or self.transcription_prompt:
            raise ValueError(
                "SessionConfig.transcription_language/transcription_prompt need a transcription_model; "
                f"set transcription_model to one of: {', '.join(TRANSCRIPTION_MODELS)}"
            )
        if self.transcription_language is not None and not (
            isinstance(self.transcription_language, str) and _LANGUAGE.match(self.transcription_language)
        ):
            raise ValueError(
                f"SessionConfig.transcription_language={self.transcription_language!r} is not an ISO-639-1 "
                "code; use e.g. 'en', 'de', 'fr'"
            )
        if self.transcription_prompt is not None and not isinstance(self.transcription_prompt, str):
            raise TypeError(
                f"SessionConfig.transcription_prompt must be a string, got {self.transcription_prompt!r}"
            )
        if self.noise_reduction is not None:
            _check_choice("noise_reduction", self.noise_reduction, NOISE_REDUCTION_TYPES)
        if not isinstance(self.tools, list):
            raise TypeError(f"SessionConfig.tools must be a list of tool dicts, got {self.tools!r}")
        names = [t.get("name") for t in self.tools]
        if not isinstance(self.tool_choice, str) or (
            self.tool_choice not in _TOOL_CHOICE_MODES and self.tool_choice not in names
        ):
            allowed = _TOOL_CHOICE_MODES + tuple(n for n in names if n)
            raise ValueError(
                f"SessionConfig.tool_choice={self.tool_choice!r} is not allowed; choose one of: "
                f"{', '.join(allowed)} (a function name forces that tool)"
            )

    # --- API -----------------------------------------------------------------------------

    @property
    def manual_commit(self) -> bool:
        """True when turns end by an explicit commit (no server turn detection)."""
        return self.turn_detection == "manual"

    def replace(self, **changes: Any) -> SessionConfig:
        """A validated copy with `changes` applied."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise TypeError(
                f"SessionConfig has no field(s) {', '.join(unknown)}; fields: {', '.join(sorted(names))}"
            )
        return dataclasses.replace(self, **changes)

    @property
    def is_transcription(self) -> bool:
        """True for a transcription-only session (`type="transcription"`)."""
        return self.type == "transcription"

    def update_event_type(self, protocol: Protocol = "ga") -> str:
        """The client event that carries this config: preview transcription sessions have their own."""
        if protocol == "preview" and self.is_transcription:
            return "transcription_session.update"
        return "session.update"

    def _turn_detection_dict(self) -> dict[str, Any] | None:
        if self.turn_detection == "manual":
            return None
        if self.is_transcription:  # nothing to respond to or interrupt
            if self.turn_detection == "semantic_vad":
                return {"type": "semantic_vad", "eagerness": self.eagerness}
            return {
                "type": "server_vad",
                "threshold": self.threshold,
                "prefix_padding_ms": self.prefix_padding_ms,
                "silence_duration_ms": self.silence_duration_ms,
            }
        if self.turn_detection == "semantic_vad":
            return {
                "type": "semantic_vad",
                "eagerness": self.eagerness,
                "create_response": self.create_response,
                "interrupt_response": self.interrupt_response,
            }
        return {
            "type": "server_vad",
            "threshold": self.threshold,
            "prefix_padding_ms": self.prefix_padding_ms,
            "silence_duration_ms": self.silence_duration_ms,
            "create_response": self.create_response,
            "interrupt_response": self.interrupt_response,
        }

    def _transcription_dict(self) -> dict[str, Any] | None:
        if self.transcription_model is None:
            return None
        out: dict[str, Any] = {"model": self.transcription_model}
        if self.transcription_language:
            out["language"] = self.transcription_language
        if self.transcription_prompt:
            out["prompt"] = self.transcription_prompt
        return out

    def _tool_choice_value(self) -> Any:
        if self.tool_choice in _TOOL_CHOICE_MODES:
            return self.tool_choice
        return {"type": "function", "name": self.tool_choice}

    def to_session(self, protocol: Protocol = "ga") -> dict[str, Any]:
        """The `session` object of a `session.update` for `protocol` ("ga" or "preview").

        Disabled features are sent as null so an update turns them off on the server. A transcription
        session gives the GA `{"type": "transcription", "audio": {"input": ...}}` or the preview
        `transcription_session.update` body (see `update_event_type`).
        """
        if self.is_transcription:
            return _transcription_session(self, protocol)
        if protocol == "ga":
            if self.temperature is not None:
                warnings.warn(
                    "SessionConfig.temperature is a preview-only setting; the GA protocol has none, so it "
                    "is not sent (use speed=, or protocol='preview')",
                    stacklevel=2,
                )
            output: dict[str, Any] = {
                "format": {"type": "audio/pcm", "rate": SAMPLE_RATE},
                "voice": self.voice,
            }
            if self.speed is not None:
                output["speed"] = self.speed
            session: dict[str, Any] = {
                "type": "realtime",
                "instructions": self.instructions,
                "output_modalities": list(self.output_modalities),
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": SAMPLE_RATE},
                        "transcription": self._transcription_dict(),
                        "noise_reduction": {"type": self.noise_reduction} if self.noise_reduction else None,
                        "turn_detection": self._turn_detection_dict(),
                    },
                    "output": output,
                },
                "tools": [dict(t) for t in self.tools],
                "tool_choice": self._tool_choice_value(),
            }
            if self.max_output_tokens is not None:
                session["max_output_tokens"] = self.max_output_tokens
            return session
        if protocol == "preview":
            if self.speed is not None:
                warnings.warn(
                    "SessionConfig.speed is a GA-only setting; it is not sent on the preview protocol",
                    stacklevel=2,
                )
            session = {
                "modalities": ["text", "audio"] if self.output_modalities == ("audio",) else ["text"],
                "instructions": self.instructions,
                "voice": self.voice,
                "input_audio_format": "pcm16",
                "output_audio_format": "pcm16",
                "input_audio_transcription": self._transcription_dict(),
                "input_audio_noise_reduction": {"type": self.noise_reduction}
                if self.noise_reduction
                else None,
                "turn_detection": self._turn_detection_dict(),
                "tools": [dict(t) for t in self.tools],
                "tool_choice": self.tool_choice,
            }
            if self.temperature is not None:
                session["temperature"] = self.temperature
            if self.max_output_tokens is not None:
                session["max_response_output_tokens"] = self.max_output_tokens
            return session
        raise ValueError(f"protocol={protocol!r} is not allowed; choose 'ga' or 'preview'")

    @classmethod
    def from_session(cls, session: Mapping[str, Any]) -> SessionConfig:
        """Read a session object of either protocol (e.g. the server's `session.updated` payload).

        Fields the payload does not carry keep their defaults.
        """
        if not isinstance(session, Mapping):
            raise TypeError(f"from_session needs the session dict, got {type(session).__name__}")
        return cls(**_fields_from_session(dict(session)))


def _transcription_session(config: SessionConfig, protocol: Protocol) -> dict[str, Any]:
    """The session of a transcription-only connection, in the GA or the preview shape."""
    noise = {"type": config.noise_reduction} if config.noise_reduction else None
    if protocol == "ga":
        return {
            "type": "transcription",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": SAMPLE_RATE},
                    "transcription": config._transcription_dict(),
                    "noise_reduction": noise,
                    "turn_detection": config._turn_detection_dict(),
                }
            },
        }
    if protocol == "preview":
        return {
            "input_audio_format": "pcm16",
            "input_audio_transcription": config._transcription_dict(),
            "input_audio_noise_reduction": noise,
            "turn_detection": config._turn_detection_dict(),
        }
    raise ValueError(f"protocol={protocol!r} is not allowed; choose 'ga' or 'preview'")


def _fields_from_session(s: dict[str, Any]) -> dict[str, Any]:
    """SessionConfig fields read from a session object of either protocol."""
    kw: dict[str, Any] = {}
    is_ga = "audio" in s or "output_modalities" in s or s.get("type") == "realtime"
    if isinstance(s.get("instructions"), str):
        kw["instructions"] = s["instructions"]
    if s.get("type") == "transcription":
        kw["type"] = "transcription"
    if is_ga:
        audio = s.get("audio") or {}
        inp, out = audio.get("input") or {}, audio.get("output") or {}
        mods = s.get("output_modalities")
        td = inp.get("turn_detection", "absent")
        tr = inp.get("transcription", "absent")
        nr = inp.get("noise_reduction", "absent")
        if out.get("voice") is not None:
            kw["voice"] = out["voice"]
        if out.get("speed") is not None:
            kw["speed"] = out["speed"]
        if s.get("max_output_tokens") is not None:
            kw["max_output_tokens"] = s["max_output_tokens"]
    else:
        mods = s.get("modalities")
        td = s.get("turn_detection", "absent")
        tr = s.get("input_audio_transcription", "absent")
        nr = s.get("input_audio_noise_reduction", "absent")
        if s.get("voice") is not None:
            kw["voice"] = s["voice"]
        if s.get("temperature") is not None:
            kw["temperature"] = s["temperature"]
        if s.get("max_response_output_tokens") is not None:
            kw["max_output_tokens"] = s["max_response_output_tokens"]
    if mods:
        kw["output_modalities"] = ("audio",) if "audio" in mods else ("text",)
    if td is None or (isinstance(td, Mapping) and td.get("type") in (None, "none")):
        kw["turn_detection"] = "manual"
    elif isinstance(td, Mapping):
        kw["turn_detection"] = td["type"]
        for key in ("threshold", "prefix_padding_ms", "silence_duration_ms", "eagerness"):
            if td.get(key) is not None:
                kw[key] = td[key]
        for key in ("create_response", "interrupt_response"):
            if td.get(key) is not None:
                kw[key] = bool(td[key])
    if isinstance(tr, Mapping) and tr.get("model"):
        kw["transcription_model"] = tr["model"]
        kw["transcription_language"] = tr.get("language") or None
        kw["transcription_prompt"] = tr.get("prompt") or None
    if isinstance(nr, Mapping) and nr.get("type"):
        kw["noise_reduction"] = nr["type"]
    if isinstance(s.get("tools"), list):
        kw["tools"] = [dict(t) for t in s["tools"]]
    choice = s.get("tool_choice")
    if isinstance(choice, str):
        kw["tool_choice"] = choice
    elif isinstance(choice, Mapping) and choice.get("name"):
        kw["tool_choice"] = choice["name"]
    return kw
