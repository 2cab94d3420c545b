"""Strict validation of raw server events against the official openai SDK's pydantic models.

The contract is the SDK's own types, not our client: each raw event (the JSON dict as on the wire)
is validated with the model its `type` names, from `openai.types.realtime.RealtimeServerEvent` (GA)
or `openai.types.beta.realtime.RealtimeServerEvent` (preview).

Validation runs with `strict=True`. The raw dict comes from `json.loads`, so its Python types are
exactly the JSON types; lax mode would quietly coerce a `1.0` into an `int` field or a `"5"` into a
number, which typed clients (Go, Rust, TypeScript with zod) refuse. Strict mode therefore fails the
event whenever the wire value is not already of the declared JSON type.

Failures: an unknown type, any validation error, a missing required field. Reported, not failed:
extra keys (`model_extra`, at any depth) and optional fields the event left out (not in
`model_fields_set`, at any depth).
"""

from __future__ import annotations

import typing
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

import pydantic
from openai.types.beta.realtime import realtime_server_event as preview_events
from openai.types.realtime import realtime_server_event as ga_events

Protocol = Literal["ga", "preview"]


def _models_by_type(alias: Any) -> dict[str, type[pydantic.BaseModel]]:
    # RealtimeServerEvent is Annotated[Union[...], discriminator]; each member's `type` is a Literal.
    union = typing.get_args(alias)[0]
    models: dict[str, type[pydantic.BaseModel]] = {}
    for model in typing.get_args(union):
        for name in typing.get_args(model.model_fields["type"].annotation):
            models[name] = model
    return models


MODELS: dict[str, dict[str, type[pydantic.BaseModel]]] = {
    "ga": _models_by_type(ga_events.RealtimeServerEvent),
    "preview": _models_by_type(preview_events.RealtimeServerEvent),
}


class ConformanceError(AssertionError):
    """A server event that the SDK's types do not accept."""

    def __init__(self, protocol: str, event_type: str, problems: list[str], raw: dict[str, Any]) -> None:
        self.protocol = protocol
        self.event_type = event_type
        self.problems = problems
        shown = {k: (v[:40] + "…" if isinstance(v, str) and len(v) > 40 else v) for k, v in raw.items()}
        super().__init__(
            f"{protocol} {event_type!r} breaks the SDK's types: {'; '.join(problems)} — event: {shown}"
        )


@dataclass
class Findings:
    """What strict validation found beyond pass/fail: extra keys and left-out optional fields."""

    extras: list[str] = field(default_factory=list)  # "path.key"
    missing_optional: list[str] = field(default_factory=list)  # "path.field"


def validate(protocol: Protocol, raw: dict[str, Any]) -> tuple[pydantic.BaseModel, Findings]:
    """The validated SDK model and its findings; raises ConformanceError on any failure."""
    if protocol not in MODELS:
        raise ValueError(f"protocol must be 'ga' or 'preview', not {protocol!r}")
    if not isinstance(raw, dict):
        raise ConformanceError(protocol, "?", [f"an event is a JSON object, not {type(raw).__name__}"], {})
    event_type = raw.get("type")
    model = MODELS[protocol].get(event_type) if isinstance(event_type, str) else None
    if model is None:
        raise ConformanceError(protocol, str(event_type), ["unknown event type for this protocol"], raw)
    try:
        parsed = model.model_validate(raw, strict=True)
    except pydantic.ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise ConformanceError(protocol, event_type, problems, raw) from None
    findings = Findings()
    _walk(parsed, "", findings)
    return parsed, findings


def _walk(value: Any, path: str, findings: Findings) -> None:
    if isinstance(value, pydantic.BaseModel):
        for key in value.model_extra or {}:
            findings.extras.append(_join(path, key))
        for name in type(value).model_fields:
            if name not in value.model_fields_set:
                findings.missing_optional.append(_join(path, name))
            else:
                _walk(getattr(value, name), _join(path, name), findings)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _walk(item, path + "[]", findings)
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk(item, _join(path, str(key)), findings)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


@dataclass
class Tally:
    """Everything validated in one test run, for the terminal summary."""

    validated: Counter = field(default_factory=Counter)  # protocol -> events
    types: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    extras: Counter = field(default_factory=Counter)  # (protocol, type, path) -> times
    missing_optional: Counter = field(default_factory=Counter)
    tolerated: Counter = field(default_factory=Counter)  # (protocol, type, problem) -> times
    notes: list[str] = field(default_factory=list)  # other figures for the summary

    def record(self, protocol: str, event_type: str, findings: Findings) -> None:
        self.validated[protocol] += 1
        self.types[protocol].add(event_type)
        for path in findings.extras:
            self.extras[(protocol, event_type, path)] += 1
        for path in findings.missing_optional:
            self.missing_optional[(protocol, event_type, path)] += 1

    def summary_lines(self) -> list[str]:
        lines = []
        for protocol in sorted(self.validated):
            total = len(MODELS[protocol])
            lines.append(
                f"{protocol}: {self.validated[protocol]} server events validated strictly, "
                f"{len(self.types[protocol])} of the SDK's {total} event types covered"
            )
            lines.append(f"  covered: {', '.join(sorted(self.types[protocol]))}")
            lines.append(f"  not seen: {', '.join(sorted(set(MODELS[protocol]) - self.types[protocol]))}")
        if self.tolerated:
            lines.append("known emulator deviations tolerated in the tour (each has an xfail test):")
            lines += [f"  {p} {t}: {problem} ×{n}" for (p, t, problem), n in sorted(self.tolerated.items())]
        lines.append(f"extra keys (not in the SDK's types): {len(self.extras)}")
        lines += [f"  {p} {t}: {path} ×{n}" for (p, t, path), n in sorted(self.extras.items())]
        lines += self.notes
        lines.append(f"optional fields left out: {len(self.missing_optional)}")
        lines += [f"  {p} {t}: {path} ×{n}" for (p, t, path), n in sorted(self.missing_optional.items())]
        return lines


TALLY = Tally()
