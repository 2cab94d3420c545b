"""The console as a person uses it, in JupyterLab with Chromium's fake microphone: Stop pressed in
the middle of a sentence, the microphone's and the speaker's states, Enter, a closed console, and
the settings form (the voice refused with other edits, the dropdowns, sliders and labels)."""

from __future__ import annotations

import time
import wave
from pathlib import Path

import numpy as np
import pytest
from browser_harness import MIC_RATE, REPO, KernelProbe, run_all_cells, write_notebook

ARTIFACTS = REPO / "artifacts"
# Long enough to press Stop well inside it.
LONG_TEXT = "Please tell me about the weather in Paris and in London and in Rome over the next few days."

CONSOLE = """\
from realtime_widgets import RealtimeConsole

console = RealtimeConsole()
console
"""

NO_PENDING = """(lambda c: dict(
    turns=[(t.status, t.user_transcript, t.transcript) for t in c.session.conversation.turns],
    rows=[(r["user"], r["status"]) for r in c.transcript.rows()],
    status=c.status.value,
) if c.session.conversation.turns and all(t.done for t in c.session.conversation.turns)
    and not c.player.playing else None)(console)"""


@pytest.fixture(scope="module")
def mic_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1 s of silence, then a long sentence in the emulator's voice, then 1 s of silence (looped)."""
    from realtime_widgets.emulator import synthesize

    speech = np.asarray(synthesize(LONG_TEXT, "alloy", rate=MIC_RATE), dtype=np.int16)
    silence = np.zeros(MIC_RATE, dtype=np.int16)
    path = tmp_path_factory.mktemp("mic") / "long-48k.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(MIC_RATE)
        w.writeframes(np.concatenate([silence, speech, silence]).astype("<i2").tobytes())
    return path


def _open_console(page, jupyter_server, name: str) -> KernelProbe:
    write_notebook(jupyter_server.root / name, [CONSOLE])
    jupyter_server.start_kernel_for(name)
    page.goto(jupyter_server.lab_url(name))
    run_all_cells(page)
    page.get_by_role("button", name="Record").wait_for(timeout=60_000)
    page.locator(".rw-console-status", has_text="connected").wait_for(timeout=30_000)
    return KernelProbe(jupyter_server, name)


def _dark_theme(page) -> None:
    page.get_by_role("menuitem", name="Settings", exact=True).click()
    page.locator("li.lm-Menu-item", has_text="Theme").first.hover()
    page.locator("li.lm-Menu-item", has_text="JupyterLab Dark").first.click()
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
    time.sleep(0.5)


def test_stop_mid_sentence_status_words_enter_and_close(page, jupyter_server) -> None:
    probe = _open_console(page, jupyter_server, "console_ux.ipynb")
    try:
        # Two labelled states, apart: never "idle■ idle".
        mic, speaker = page.locator(".rw-recorder .rw-status"), page.locator(".rw-player-state")
        assert mic.inner_text().strip() == "Microphone: idle"
        assert speaker.inner_text().strip() == "Speaker: idle"
        mic_box, speaker_box = mic.bounding_box(), speaker.bounding_box()
        assert speaker_box["x"] - (mic_box["x"] + mic_box["width"]) >= 8, (mic_box, speaker_box)

        # Record, and press Stop in the middle of the sentence.
        page.get_by_role("button", name="Record").click()
        page.locator(".rw-ev-type", has_text="speech_started").first.wait_for(timeout=30_000)
        assert mic.inner_text().strip() == "Microphone: recording"
        time.sleep(1.2)  # well inside the 5 s sentence
        assert probe.value("console.session.conversation.turns[-1].user_speaking") is True
        page.get_by_role("button", name="Stop").click()
        page.locator(".rw-console-status", has_text="what you said was sent").wait_for(timeout=15_000)
        state = probe.wait_for(NO_PENDING, timeout=60)
        assert [s for s, _, _ in state["turns"]] == ["completed"]
        ((user, _status),) = state["rows"]
        assert "transcription is off" not in user and user  # transcribed, as configured
        assert page.locator('.rw-tr-msg[data-role="assistant"][data-status="pending"]').count() == 0
        assert page.locator('.rw-tr-msg[data-role="assistant"] .rw-tr-text').first.inner_text().strip()
        # Record again: a turn of its own, nothing of the first one left over.
        page.get_by_role("button", name="Record").click()
        probe.wait_for("len(console.session.conversation.turns) == 2", timeout=30)
        time.sleep(1.0)
        page.get_by_role("button", name="Stop").click()
        state = probe.wait_for(NO_PENDING, timeout=60)
        assert [s for s, _, _ in state["turns"]] == ["completed", "completed"]
        assert page.locator('.rw-tr-msg[data-role="assistant"][data-status="pending"]').count() == 0
        assert mic.inner_text().strip() == "Microphone: idle"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "console-stop-light.png"), full_page=True)

        # Enter sends what is typed.
        box = page.locator(".rw-console-text input")
        box.fill("Hello by Enter")
        box.press("Enter")
        page.locator('.rw-tr-msg[data-role="user"] .rw-tr-text', has_text="Hello by Enter").wait_for()
        assert box.input_value() == ""
        probe.wait_for(NO_PENDING, timeout=60)

        # Closed: Record and Send are greyed, Reconnect shows, the status line says so.
        probe.value("[console.close(), None][1]")
        page.get_by_role("button", name="Reconnect").wait_for(timeout=15_000)
        assert page.get_by_role("button", name="Record").is_disabled()
        assert page.get_by_role("button", name="Send").is_disabled() and box.is_disabled()
        assert "console closed" in page.locator(".rw-console-status").inner_text()
        _dark_theme(page)
        page.screenshot(path=str(ARTIFACTS / "console-closed-dark.png"), full_page=True)
        page.get_by_role("button", name="Reconnect").click()
        page.locator(".rw-console-status", has_text="connected").wait_for(timeout=30_000)
        assert not page.get_by_role("button", name="Send").is_disabled()
        assert not page.get_by_role("button", name="Record").is_disabled()
    finally:
        probe.close()


def _field(page, label: str):
    return page.locator(".rw-config-form").get_by_label(label, exact=True)


def test_settings_form_keeps_other_edits_when_the_voice_is_refused_and_lays_out(page, jupyter_server) -> None:
    probe = _open_console(page, jupyter_server, "console_form.ipynb")
    try:
        page.get_by_text("Session settings", exact=True).click()
        # The dropdowns say "Off" rather than nothing; sliders have a usable track.
        noise = _field(page, "Noise reduction")
        assert noise.evaluate("s => s.options[s.selectedIndex] && s.options[s.selectedIndex].text") == "Off"
        tracks = page.locator(".rw-config-form .widget-slider .slider-container")
        widths = [b["width"] for b in (tracks.nth(i).bounding_box() for i in range(tracks.count())) if b]
        assert widths and min(widths) >= 200, widths
        # The API key row lines up with the endpoint row: same label column, same gap to the field.
        page.get_by_text("Connect to Azure", exact=True).click()
        endpoint_label = page.locator(".rw-config-form label:text-is('Endpoint')")
        endpoint_input = _field(page, "Endpoint")
        key_label = page.locator(".rw-config-form label:text-is('API key')")
        key_input = page.locator(".rw-config-form input[type=password]")
        e_label, e_input = endpoint_label.bounding_box(), endpoint_input.bounding_box()
        k_label, k_input = key_label.bounding_box(), key_input.bounding_box()
        endpoint_gap = e_input["x"] - (e_label["x"] + e_label["width"])
        key_gap = k_input["x"] - (k_label["x"] + k_label["width"])
        assert key_gap >= 6 and abs(key_gap - endpoint_gap) <= 2, (endpoint_gap, key_gap)
        assert abs(k_input["x"] - e_input["x"]) <= 2
        ARTIFACTS.mkdir(exist_ok=True)
        key_input.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "console-form-light.png"), full_page=True)

        # Edits: a new voice and new instructions; then the assistant speaks before Apply.
        _field(page, "Voice").select_option("verse")
        _field(page, "Model instructions").fill("Answer in French.")
        page.locator(".rw-form-status", has_text="Not applied yet").wait_for()
        box = page.locator(".rw-console-text input")
        box.fill("Say hi")
        box.press("Enter")
        probe.wait_for(
            "any(t.done and t.audio_samples for t in console.session.conversation.turns)", timeout=30
        )
        page.locator(".rw-form-note", has_text="locked").wait_for()
        assert _field(page, "Voice").is_disabled()
        page.get_by_role("button", name="Apply").click()
        page.locator(".rw-form-status", has_text="voice stays alloy").wait_for(timeout=15_000)
        config = probe.value(
            "dict(voice=console.session.config.voice, instructions=console.session.config.instructions)"
        )
        assert config == {"voice": "alloy", "instructions": "Answer in French."}
        assert _field(page, "Voice").input_value() == "alloy"
        assert "Not applied yet" not in " ".join(page.locator(".rw-form-status").all_inner_texts())
        assert page.locator(".rw-tr-error").count() == 0  # no refusal shown as the turn's error
        page.screenshot(path=str(ARTIFACTS / "console-form-voice-locked-light.png"), full_page=True)
        _dark_theme(page)
        page.screenshot(path=str(ARTIFACTS / "console-form-voice-locked-dark.png"), full_page=True)
    finally:
        probe.close()
