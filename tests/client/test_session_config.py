"""SessionConfig: local validation with the documented ranges, both wire shapes (checked with the SDK's models)."""

from __future__ import annotations

import pytest
from openai.types.beta.realtime.session_update_event import SessionUpdateEvent
from openai.types.realtime.realtime_session_create_request import RealtimeSessionCreateRequest

from realtime_widgets.config import ConnectionConfig
from realtime_widgets.protocol import VOICES
from realtime_widgets.session_config import SessionConfig

FULL = dict(
    instructions="Be brief.",
    voice="coral",
    max_output_tokens=300,
    turn_detection="server_vad",
    threshold=0.7,
    prefix_padding_ms=200,
    silence_duration_ms=400,
    create_response=False,
    transcription_model="whisper-1",
    transcription_language="en",
    transcription_prompt="names: Ada",
    noise_reduction="near_field",
    tools=[{"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}],
    tool_choice="get_time",
)


def test_unknown_voice_lists_voices():
    with pytest.raises(ValueError) as info:
        SessionConfig(voice="bob")
    assert all(v in str(info.value) for v in VOICES) and "'bob'" in str(info.value)


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("threshold", 3.0, "threshold=3.0 is out of range; allowed: 0.0 to 1.0"),
        ("temperature", 2.0, "0.6 to 1.2"),
        ("speed", 0.1, "0.25 to 1.5"),
        ("max_output_tokens", 5000, "1 to 4096"),
        ("max_output_tokens", 0, "1 to 4096"),
        ("turn_detection", "vad", "server_vad, semantic_vad, manual"),
        ("eagerness", "eager", "low, medium, high, auto"),
        ("noise_reduction", "studio", "near_field, far_field"),
        ("transcription_model", "whisper 2!", "whisper-1"),
        ("output_modalities", ("video",), "output_modalities"),
        ("tool_choice", "missing_tool", "auto, none, required"),
    ],
)
def test_out_of_range_values_name_field_value_and_range(field, value, fragment):
    with pytest.raises(ValueError) as info:
        SessionConfig(**{field: value})
    assert fragment in str(info.value) and field in str(info.value)


def test_type_errors_and_replace_and_assignment_validate():
    with pytest.raises(TypeError, match="threshold"):
        SessionConfig(threshold="high")
    with pytest.raises(TypeError, match="create_response"):
        SessionConfig(create_response="yes")
    cfg = SessionConfig()
    with pytest.raises(ValueError, match="threshold"):
        cfg.replace(threshold=-0.1)
    with pytest.raises(TypeError, match="no field"):
        cfg.replace(volume=3)
    with pytest.raises(ValueError, match="voice"):
        cfg.voice = "robot"
    assert cfg.voice == "alloy"  # a rejected assignment leaves the old value
    assert cfg.replace(turn_detection="manual").manual_commit and not cfg.manual_commit
    with pytest.raises(ValueError, match="transcription_model"):
        SessionConfig(transcription_language="en")


def test_ga_shape_validates_with_the_sdk_model():
    cfg = SessionConfig(**FULL, speed=1.2)
    session = cfg.to_session("ga")
    model = RealtimeSessionCreateRequest.model_validate(session)
    assert model.type == "realtime" and model.output_modalities == ["audio"]
    assert model.audio.output.voice == "coral" and model.audio.output.speed == 1.2
    td = model.audio.input.turn_detection
    assert (td.type, td.threshold, td.prefix_padding_ms, td.silence_duration_ms, td.create_response) == (
        "server_vad",
        0.7,
        200,
        400,
        False,
    )
    assert (
        model.audio.input.transcription.model == "whisper-1"
        and model.audio.input.transcription.language == "en"
    )
    assert model.audio.input.noise_reduction.type == "near_field"
    assert model.max_output_tokens == 300 and "temperature" not in session
    assert session["tools"] == [{"type": "function", "name": "get_time", "parameters": {"type": "object"}}]
    assert session["tool_choice"] == {"type": "function", "name": "get_time"}


def test_preview_shape_validates_with_the_sdk_model():
    cfg = SessionConfig(**FULL, temperature=0.9)
    session = cfg.to_session("preview")
    event = SessionUpdateEvent.model_validate({"type": "session.update", "session": session})
    s = event.session
    assert s.modalities == ["text", "audio"] and s.voice == "coral" and s.temperature == 0.9
    assert s.input_audio_format == "pcm16" and s.max_response_output_tokens == 300
    assert s.turn_detection.type == "server_vad" and s.turn_detection.threshold == 0.7
    assert s.input_audio_transcription.model == "whisper-1"
    assert "audio" not in session and "speed" not in session
    assert SessionConfig(output_modalities=("text",)).to_session("preview")["modalities"] == ["text"]


def test_manual_and_semantic_vad_shapes():
    manual = SessionConfig(turn_detection="manual")
    assert manual.to_session("ga")["audio"]["input"]["turn_detection"] is None
    assert manual.to_session("preview")["turn_detection"] is None
    semantic = SessionConfig(turn_detection="semantic_vad", eagerness="high").to_session("ga")
    assert semantic["audio"]["input"]["turn_detection"] == {
        "type": "semantic_vad",
        "eagerness": "high",
        "create_response": True,
        "interrupt_response": True,
    }


def test_protocol_only_settings_warn_when_dropped():
    with pytest.warns(UserWarning, match="temperature"):
        SessionConfig(temperature=0.8).to_session("ga")
    with pytest.warns(UserWarning, match="speed"):
        SessionConfig(speed=1.1).to_session("preview")
    with pytest.raises(ValueError, match="'ga' or 'preview'"):
        SessionConfig().to_session("v2")


@pytest.mark.parametrize("protocol", ["ga", "preview"])
def test_round_trip_through_both_shapes(protocol):
    extra = {"speed": 1.1} if protocol == "ga" else {"temperature": 0.7}
    cfg = SessionConfig(**FULL, **extra)
    assert SessionConfig.from_session(cfg.to_session(protocol)) == cfg


@pytest.mark.parametrize("protocol", ["ga", "preview"])
async def test_emulator_accepts_the_shape_and_echoes_it(emulator, protocol):
    cfg = SessionConfig(voice="sage", turn_detection="manual", instructions="Say hi.", max_output_tokens=100)
    conn_cfg = ConnectionConfig.for_emulator(emulator, protocol=protocol)
    async with conn_cfg.async_client() as client, conn_cfg.realtime_connect(client) as conn:
        await conn.send({"type": "session.update", "session": cfg.to_session(protocol)})
        async for event in conn:
            if event.type == "error":
                raise AssertionError(event.error)
            if event.type == "session.updated":
                updated = event.session.model_dump(exclude_none=False)
                break
    echoed = SessionConfig.from_session(updated)
    assert (echoed.voice, echoed.turn_detection, echoed.instructions, echoed.max_output_tokens) == (
        "sage",
        "manual",
        "Say hi.",
        100,
    )


def test_empty_strings_from_forms_mean_off():
    cfg = SessionConfig(transcription_model="", transcription_language="", noise_reduction="")
    assert (cfg.transcription_model, cfg.transcription_language, cfg.noise_reduction) == (None, None, None)
