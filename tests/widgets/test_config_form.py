"""SessionConfigForm against live emulator sessions (GA and preview)."""

from __future__ import annotations

import json

import ipywidgets
import nbformat
import pytest
from ipywidgets.widgets.widget import _instances
from page_messages import page_sends

from realtime_widgets.config import ConnectionConfig
from realtime_widgets.protocol import SPEED_RANGE, TEMPERATURE_RANGE, THRESHOLD_RANGE
from realtime_widgets.session import RealtimeSession
from realtime_widgets.session_config import SessionConfig
from realtime_widgets.widgets.config_form import SessionConfigForm

SECRET = "sk-test-DO-NOT-LEAK-8f3a1c"


@pytest.fixture
async def session(emulator):
    async with RealtimeSession(ConnectionConfig.for_emulator(emulator), SessionConfig(voice="ash")) as s:
        yield s


def _status(form: SessionConfigForm) -> str:
    return form.status.value


async def test_apply_updates_the_live_session(session):
    form = SessionConfigForm(session)
    assert form.voice.value == "ash"  # the controls start from the session's config
    assert session.connection.describe() in form.connection_status.value
    form.voice.value = "coral"
    form.threshold.value = 0.62
    form.silence_duration_ms.value = 200
    form.transcription_model.value = "gpt-4o-transcribe"
    result = await form.apply()
    assert "Session updated" in _status(form) and 'data-kind="ok"' in _status(form)
    assert session.config.voice == "coral" and session.config.silence_duration_ms == 200
    assert result["audio"]["output"]["voice"] == "coral"
    assert result["audio"]["input"]["turn_detection"]["threshold"] == pytest.approx(0.62)
    assert result["audio"]["input"]["transcription"]["model"] == "gpt-4o-transcribe"


async def test_a_refused_voice_change_keeps_the_other_edits_and_locks_the_voice(session):
    form = SessionConfigForm(session)
    assert not form.voice.disabled and "Not applied yet" not in _status(form)
    await session.send_text("Say hi.")  # audio has been produced: the voice is now fixed
    assert form.voice.disabled and "locked" in form.voice_note.value  # shown before anyone tries
    form.voice.value = "verse"  # Python can still set it: the service is the judge
    form.instructions.value = "Answer in French."
    form.threshold.value = 0.7
    assert "Not applied yet" in _status(form)
    form.apply_button.click()  # schedules the coroutine on the running loop, like a real click
    await form._pending
    assert session.config.voice == "ash"  # refused by the service ...
    assert session.config.instructions == "Answer in French."  # ... but the other edits are in
    assert session.config.threshold == pytest.approx(0.7)
    assert session.server_session["instructions"] == "Answer in French."
    assert form.voice.value == "ash" and form.voice.disabled
    assert "voice stays ash" in _status(form) and "Not applied yet" not in _status(form)
    form.instructions.value = "Answer in German."
    assert "Not applied yet" in _status(form)
    form.instructions.value = "Answer in French."  # back to what is in effect: nothing pending
    assert "Not applied yet" not in _status(form)
    # Not known to be locked (another view of the session): the service's refusal, then the rest.
    form.controls.lock_voice(None)
    form.voice.value, form.instructions.value = "coral", "Answer in Italian."
    await form.apply()
    errors = [e for e in session.errors if e.code == "cannot_update_voice"]
    assert errors and session.config.instructions == "Answer in Italian." and session.config.voice == "ash"
    assert form.voice.disabled and "voice stays ash" in _status(form)


def test_off_is_a_visible_choice_in_the_dropdowns():
    form = SessionConfigForm(config=SessionConfig(noise_reduction=None, transcription_model=None))
    assert form.noise_reduction.label == "Off" and form.transcription_model.label == "Off"
    assert form.value.noise_reduction is None and form.value.transcription_model is None
    form.noise_reduction.value = "near_field"
    assert form.value.noise_reduction == "near_field"


async def test_preview_session_shows_temperature_not_speed(emulator):
    conn = ConnectionConfig.for_emulator(emulator, protocol="preview")
    async with RealtimeSession(conn, SessionConfig()) as s:
        form = SessionConfigForm(s)
        assert (
            form.controls.temperature_row.layout.display == ""
            and form.controls.speed_row.layout.display == "none"
        )
        form.temperature.value = 1.1
        result = await form.apply()
        assert "Session updated" in _status(form)
        assert result["temperature"] == pytest.approx(1.1)
        assert s.config.temperature == pytest.approx(1.1)


def test_controls_enforce_documented_ranges():
    form = SessionConfigForm()
    assert (form.temperature.min, form.temperature.max) == TEMPERATURE_RANGE
    assert (form.speed.min, form.speed.max) == SPEED_RANGE
    assert (form.threshold.min, form.threshold.max) == THRESHOLD_RANGE
    form.threshold.value = 5
    assert form.threshold.value == 1.0
    form.max_output_tokens.value = 99999
    assert form.max_output_tokens.value == 4096
    assert (
        form.controls.speed_row.layout.display == ""
        and form.controls.temperature_row.layout.display == "none"
    )
    form.turn_detection.value = "manual"
    assert form.controls.vad_box.layout.display == "none" and form.value.turn_detection == "manual"
    form.unlimited_tokens.value = False
    form.max_output_tokens.value = 300
    assert form.value.max_output_tokens == 300
    with pytest.raises(TypeError, match="SessionConfig"):
        form.value = {"voice": "alloy"}


async def test_apply_without_session_says_so():
    form = SessionConfigForm()
    assert await form.apply() is None
    assert "no session" in _status(form)
    assert "Not connected" in form.connection_status.value


def test_api_key_never_reaches_widget_state(tmp_path):
    form = SessionConfigForm()
    form.endpoint.value = "https://example-resource.openai.azure.com"
    form.deployment.value = "gpt-realtime"
    # the page's password box sends the key once, as a custom message
    page_sends(form.api_key, {"kind": "secret", "value": SECRET})
    assert form.api_key.has_value
    conn = form.connection_config()
    assert conn.api_key == SECRET and SECRET not in repr(conn) and SECRET not in conn.describe()
    for widget in list(_instances.values()):
        assert SECRET not in json.dumps(widget.get_state(), default=str)
        assert SECRET not in repr(widget)
    state = ipywidgets.Widget.get_manager_state()
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": state}
    nb.cells.append(nbformat.v4.new_code_cell("form"))
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)
    text = path.read_text()
    assert form.api_key.model_id in text  # the password widget is in the saved state...
    assert SECRET not in text  # ...but its key is not


def test_an_azure_transcription_deployment_name_is_offered():
    form = SessionConfigForm(config=SessionConfig(transcription_model="my-gpt-4o-transcribe"))
    assert form.transcription_model.value == "my-gpt-4o-transcribe"
    assert form.value.transcription_model == "my-gpt-4o-transcribe"
    assert ("whisper-1", "whisper-1") in form.transcription_model.options
