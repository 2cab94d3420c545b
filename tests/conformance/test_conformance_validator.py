"""The strict validator itself, on crafted events: it passes what the SDK declares and fails the rest."""

from __future__ import annotations

import pytest
from strict import MODELS, ConformanceError, validate

RATE_LIMITS = {
    "type": "rate_limits.updated",
    "event_id": "event_1",
    "rate_limits": [{"name": "requests", "limit": 100, "remaining": 99, "reset_seconds": 1.5}],
}


def part_added(part_type: str) -> dict:
    return {
        "type": "response.content_part.added",
        "event_id": "event_2",
        "response_id": "resp_1",
        "item_id": "item_1",
        "output_index": 0,
        "content_index": 0,
        "part": {"type": part_type, "transcript": ""},
    }


def test_both_protocols_map_every_union_member():
    assert "conversation.item.added" in MODELS["ga"] and "conversation.item.added" not in MODELS["preview"]
    assert "response.audio.delta" in MODELS["preview"] and "response.output_audio.delta" in MODELS["ga"]
    assert "transcription_session.updated" in MODELS["preview"]
    assert len(MODELS["ga"]) >= 40 and len(MODELS["preview"]) >= 30


def test_a_good_event_passes_and_reports_left_out_optionals():
    model, findings = validate("ga", RATE_LIMITS)
    assert type(model).__name__ == "RateLimitsUpdatedEvent"
    assert findings.extras == []
    assert findings.missing_optional == []


def test_left_out_optional_fields_are_reported_with_their_path():
    event = {"type": "rate_limits.updated", "event_id": "e", "rate_limits": [{"name": "tokens"}]}
    _, findings = validate("ga", event)
    assert sorted(findings.missing_optional) == [
        "rate_limits[].limit",
        "rate_limits[].remaining",
        "rate_limits[].reset_seconds",
    ]


def test_extra_keys_are_reported_at_any_depth():
    event = dict(RATE_LIMITS, surprise=1)
    event["rate_limits"] = [dict(RATE_LIMITS["rate_limits"][0], deep_extra="x")]
    _, findings = validate("ga", event)
    assert sorted(findings.extras) == ["rate_limits[].deep_extra", "surprise"]


def test_unknown_type_fails():
    with pytest.raises(ConformanceError, match="unknown event type"):
        validate("ga", {"type": "response.made_up", "event_id": "e"})


def test_a_preview_name_is_unknown_on_ga_and_a_ga_name_on_preview():
    with pytest.raises(ConformanceError, match="unknown"):
        validate("ga", {"type": "response.audio.delta", "event_id": "e"})
    with pytest.raises(ConformanceError, match="unknown"):
        validate("preview", {"type": "conversation.item.added", "event_id": "e"})


def test_missing_required_field_fails():
    event = {k: v for k, v in RATE_LIMITS.items() if k != "event_id"}
    with pytest.raises(ConformanceError, match="event_id: Field required"):
        validate("ga", event)


def test_a_literal_outside_the_declared_set_fails():
    with pytest.raises(ConformanceError, match="part.type"):
        validate("ga", part_added("output_audio"))
    validate("ga", part_added("audio"))


def test_strict_mode_refuses_coercions_a_typed_client_would_refuse():
    as_float = dict(RATE_LIMITS, rate_limits=[dict(RATE_LIMITS["rate_limits"][0], remaining=99.0)])
    with pytest.raises(ConformanceError, match="remaining"):
        validate("ga", as_float)
    as_string = dict(RATE_LIMITS, rate_limits=[dict(RATE_LIMITS["rate_limits"][0], limit="100")])
    with pytest.raises(ConformanceError, match="limit"):
        validate("ga", as_string)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="protocol"):
        validate("beta", RATE_LIMITS)
    with pytest.raises(ConformanceError, match="JSON object"):
        validate("ga", ["not", "an", "event"])
