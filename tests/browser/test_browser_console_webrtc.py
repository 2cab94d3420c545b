"""RealtimeConsole(transport="webrtc") in JupyterLab and real Chromium against the in-kernel emulator:
Record over WebRTC gives a spoken turn whose both sides the kernel holds (transcript, event log, tapped
audio); Record twice, Stop, close and Reconnect; the dark theme; ICE with no path ends in the message
offering the WebSocket; and no API key or Entra token reaches the page, its messages or the notebook."""

from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
from browser_harness import MIC_TEXT, KernelProbe, open_notebook, set_theme
from webrtc_pages import BLOCK_ICE, TURN_REPORT, question_then_quiet

from realtime_widgets.emulator import synthesize
from tests.emulator.webrtc_client import voiced_seconds


@pytest.fixture(scope="module")
def mic_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return question_then_quiet(tmp_path_factory.mktemp("mic") / "question.wav")


SETUP = "import numpy as np\n" + TURN_REPORT
CONSOLE = """\
from realtime_widgets import RealtimeConsole

console = RealtimeConsole(transport="webrtc")
console"""
SPOKEN = "[i for i, t in enumerate(console.session.conversation.turns) if t.user_transcript and t.status == 'completed']"


def _wait_connected(page, timeout_ms: float = 60_000) -> None:
    page.locator('.rw-call-state[data-state="connected"]').wait_for(timeout=timeout_ms)
    page.locator(".rw-console-status", has_text="WebRTC · connected").wait_for(timeout=30_000)


def test_record_over_webrtc_a_spoken_turn_both_sides_in_the_kernel(page, jupyter_server, artifacts) -> None:
    name = "console_webrtc.ipynb"
    open_notebook(page, jupyter_server, name, [SETUP, CONSOLE])
    _wait_connected(page)
    page.get_by_role("button", name="Record").click()
    assistant = page.locator('.rw-tr-msg[data-role="assistant"][data-status="completed"] .rw-tr-text')
    assistant.first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Stop").click()
    user = page.locator('.rw-tr-msg[data-role="user"] .rw-tr-text')
    with KernelProbe(jupyter_server, name) as probe:
        index = probe.wait_for(SPOKEN, timeout=20)[0]
        time.sleep(1.0)  # the played tail reaches the output tap
        report = probe.value(
            f"turn_report(console.session.conversation.turns[{index}], console.session.config.voice)"
        )
        kinds = set(probe.value("[e.type for e in console.session.event_log]"))
        call_id = probe.value("console.call.widget.call_id")
        assert probe.value("console.session.transport") == "webrtc"
        assert probe.value("console.call.widget.taps_lost") == {"input": 0, "output": 0}

        # The transcript and the event log show both sides.
        assert assistant.first.inner_text().strip() and user.first.inner_text().strip()
        assert report["assistant"] and report["user"], report
        rows = page.locator(".rw-event-log .rw-ev-type")
        for kind in ("input_audio_buffer.speech_started", "output_audio_buffer.started", "response.done"):
            assert kind in kinds, kinds
            assert rows.filter(has_text=kind).count() >= 1, kind
        # Both sides' audio, tapped by the page: voiced, and as long as eSpeak says the words (+-40 %).
        # (Record may unmute mid-question: the user's side is what the service heard of it.)
        asked = voiced_seconds(np.asarray(synthesize(MIC_TEXT, "alloy"), dtype=np.int16))
        print("tapped turn:", report, "whole question voiced", asked)
        assert report["user_peak"] > 3000 and report["peak"] > 3000, report
        assert 0.6 * report["user_expected_voiced"] <= report["user_voiced"] <= 1.4 * asked + 0.3, report
        assert 0.6 * report["expected_voiced"] <= report["voiced"] <= 1.4 * report["expected_voiced"] + 0.3
        page.set_viewport_size({"width": 1400, "height": 1500})
        page.locator(".rw-console").screenshot(path=str(artifacts / "console_webrtc.png"))

        # Record twice (Record, Stop at once): muted again, the call still up.
        record = page.get_by_role("button", name="Record")
        record.click()
        page.get_by_role("button", name="Stop").click()
        assert probe.wait_for("console.call.widget.muted", timeout=5)
        assert probe.value("console.call.widget.state") == "connected"

        # Close: the call is hung up, Record greys; Reconnect dials a new call.
        probe.value("[console.close(), None][1]")
        page.locator('.rw-call-state[data-state="closed"]').wait_for(timeout=10_000)
        page.get_by_role("button", name="Reconnect").wait_for(timeout=15_000)
        page.locator(".rw-console-status", has_text="console closed").wait_for(timeout=15_000)
        assert record.is_disabled()
        page.get_by_role("button", name="Reconnect").click()
        _wait_connected(page)
        assert probe.value("console.call.widget.call_id") not in ("", call_id)
        assert probe.value("console.session.status") == "connected"
        assert not record.is_disabled()
        set_theme(page, "JupyterLab Dark")
        page.locator(".rw-console").screenshot(path=str(artifacts / "console_webrtc_dark.png"))
        set_theme(page, "JupyterLab Light")  # the server's setting: later tests expect the light theme
        probe.value("[console.close(), None][1]")


def test_ice_without_a_path_tells_the_console_to_use_the_websocket(page, jupyter_server, artifacts) -> None:
    page.context.add_init_script(BLOCK_ICE)
    name = "console_webrtc_blocked.ipynb"
    started = time.monotonic()
    open_notebook(page, jupyter_server, name, [SETUP, CONSOLE])
    status = page.locator('.rw-console-status[data-kind="error"]', has_text="WebRTC could not connect")
    status.wait_for(timeout=60_000)
    text = status.inner_text()
    assert "transport='websocket'" in text and "ICE" in text, text
    with KernelProbe(jupyter_server, name) as probe:
        assert probe.value("console.call.widget.state") == "failed"
        assert probe.value("console.session.status") != "connected"
        assert "RealtimeConsole(transport='websocket')" in probe.value(
            "console.last_error + console.status.value"
        )
    # Opening the notebook, the kernel, the 10 s ICE timeout: bounded, not a hang.
    assert time.monotonic() - started < 60
    page.locator(".rw-console").screenshot(path=str(artifacts / "console_webrtc_ice_failed.png"))


RECORD_COMMS = """\
import json, urllib.request
import ipywidgets
from realtime_widgets import ConnectionConfig, Emulator, RealtimeConsole

# Every comm message the kernel sends the page (state, updates, custom messages and their buffers).
SENT = []
comm_class = type(ipywidgets.Button().comm)
# (Run All may run this cell again: wrap the native method once.)
_publish = comm_class.__dict__.get("_native_publish", comm_class.publish_msg)
comm_class._native_publish = _publish
def _recording_publish(self, msg_type, data=None, metadata=None, buffers=None, **keys):
    SENT.append(json.dumps(data, default=str) + "".join(bytes(b).decode("latin-1") for b in buffers or []))
    return _publish(self, msg_type, data, metadata, buffers, **keys)
comm_class.publish_msg = _recording_publish

KEY = "sk-rw-do-not-leak-" + "4f1e9a" * 4
emu = Emulator(api_key=KEY).start()
env = emu.identity_env()
request = urllib.request.Request(
    env["IDENTITY_ENDPOINT"] + "?api-version=2019-08-01&resource=https://cognitiveservices.azure.com",
    headers={"X-IDENTITY-HEADER": env["IDENTITY_HEADER"]},
)
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
TOKEN = json.loads(opener.open(request).read())["access_token"]
by_key = RealtimeConsole(ConnectionConfig.for_emulator(emu), transport="webrtc")
by_token = RealtimeConsole(
    ConnectionConfig(endpoint=emu.endpoint, deployment=emu.deployment, token_provider=lambda: TOKEN, is_emulator=True),
    transport="webrtc",
)
by_key"""

PAGE_SENDS = """
// Everything the page sends the kernel (Jupyter's kernel WebSocket), as text.
window.__sentToKernel = [];
const nativeSend = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) {
  try {
    window.__sentToKernel.push(typeof data === "string" ? data : new TextDecoder("latin1").decode(data));
  } catch (_e) {}
  return nativeSend.call(this, data);
};
"""

LEAKS = """dict(
    sent=[s for s in SENT if KEY in s or TOKEN in s][:1],
    state=[type(w).__name__ for w in list(ipywidgets.Widget.widgets.values()) if KEY in repr(w.get_state()) or TOKEN in repr(w.get_state())],
    dialled=sum('"kind": "dial"' in s and '"secret": "ek_' in s for s in SENT),
    key_sent=sum(KEY in s for s in SENT), n=len(SENT),
)"""


def test_no_key_or_token_reaches_the_page_only_the_ephemeral_key(page, jupyter_server, artifacts) -> None:
    page.context.add_init_script(PAGE_SENDS)
    name = "console_webrtc_secrets.ipynb"
    open_notebook(page, jupyter_server, name, [RECORD_COMMS, "by_token"])
    page.locator('.rw-call-state[data-state="connected"]').nth(1).wait_for(timeout=90_000)
    with KernelProbe(jupyter_server, name) as probe:
        probe.wait_for("by_key.session.status == 'connected' and by_token.session.status == 'connected'", 30)
        key, token = probe.value("KEY"), probe.value("TOKEN")
        assert token.startswith("emulator-mi-")
        assert probe.value(
            "by_token.session.connection.api_key is None and by_key.session.connection.api_key == KEY"
        )
        leaks = probe.value(LEAKS)
        # Save the notebook with its widget state, as a person does.
        page.get_by_role("menuitem", name="Settings").click()
        item = page.locator(".lm-Menu-item", has_text="Save Widget State Automatically")
        if item.get_attribute("aria-checked") != "true":
            item.click()
        else:
            page.keyboard.press("Escape")
        page.get_by_role("menuitem", name="File", exact=True).click()
        page.locator(".lm-Menu-item", has_text="Save Notebook").first.click()
        saved_path = jupyter_server.root / name
        deadline = time.monotonic() + 60  # a busy machine saves slowly
        while '"widgets"' not in saved_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.5)
        for console in ("by_key", "by_token"):
            probe.value(f"[{console}.close(), None][1]")
    from_page = page.evaluate("window.__sentToKernel")
    saved = (jupyter_server.root / name).read_text()
    notebook = nbformat.reads(saved, as_version=4)
    assert notebook.cells[0].outputs, "the page did not save the notebook"
    states = json.dumps(notebook.metadata.get("widgets", {}))
    print("saved metadata:", list(notebook.metadata), states[:300])
    print("comm messages to the page:", leaks["n"], "page messages:", len(from_page))
    assert leaks["dialled"] == 2  # each page got its ephemeral key, in its one dial message
    assert leaks["sent"] == [] and leaks["state"] == [] and leaks["key_sent"] == 0, leaks
    assert from_page and not [m for m in from_page if key in m or token in m]
    assert "WebRTCCallModel" in states or "webrtc" in states.lower(), "the widget state was not saved"
    assert key not in saved and token not in saved and '"ek_' not in saved
