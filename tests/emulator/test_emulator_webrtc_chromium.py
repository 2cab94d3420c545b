"""Chromium's own WebRTC stack against the emulator's endpoints (no widget): its SDP offer is answered,
ICE connects on loopback, the data channel carries the filtered events of a turn spoken by the fake
microphone, and the model's audio plays in the page. The widget side builds on exactly this exchange."""

from __future__ import annotations

from pathlib import Path

import pytest
from openai import OpenAI

pytest.importorskip("playwright")
from tests.browser.browser_harness import CHROMIUM, chromium_args, make_fake_mic_wav  # noqa: E402
from tests.emulator.webrtc_client import calls_end

pytestmark = pytest.mark.usefixtures(calls_end.__name__)

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

CALL = """async ({key, base}) => {
  const pc = new RTCPeerConnection();
  const mic = await navigator.mediaDevices.getUserMedia({audio: true});
  pc.addTrack(mic.getAudioTracks()[0], mic);
  window.events = [];
  window.peak = 0;
  pc.ontrack = (e) => {
    const stream = new MediaStream([e.track]);
    const player = new Audio(); player.srcObject = stream; player.muted = true; player.play();
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    ctx.createMediaStreamSource(stream).connect(analyser);
    const buf = new Float32Array(analyser.fftSize);
    setInterval(() => {
      analyser.getFloatTimeDomainData(buf);
      window.peak = Math.max(window.peak, ...buf.map(Math.abs));
    }, 20);
  };
  const dc = pc.createDataChannel("realtime-channel");
  dc.onmessage = (e) => {
    window.events.push(JSON.parse(e.data).type);
    document.body.innerText = window.events.join("\\n");
  };
  await pc.setLocalDescription(await pc.createOffer());
  const r = await fetch(base + "/openai/v1/realtime/calls?webrtcfilter=on", {
    method: "POST", body: pc.localDescription.sdp,
    headers: {"Authorization": "Bearer " + key, "Content-Type": "application/sdp"},
  });
  const answer = await r.text();
  await pc.setRemoteDescription({type: "answer", sdp: answer});
  window.pc = pc;
  return {status: r.status, location: r.headers.get("Location")};
}"""


def test_chromium_calls_the_emulator_over_webrtc(emulator, tmp_path):
    from playwright.sync_api import sync_playwright

    client = OpenAI(base_url=f"http://127.0.0.1:{emulator.port}/openai/v1", api_key=emulator.api_key)
    key = client.realtime.client_secrets.create(session={"type": "realtime", "model": "gpt-realtime"}).value
    mic = make_fake_mic_wav(tmp_path / "mic.wav", "What is the capital of France?")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=chromium_args(mic))
        try:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{emulator.port}/")
            answer = page.evaluate(CALL, {"key": key, "base": f"http://127.0.0.1:{emulator.port}"})
            assert answer["status"] == 201 and answer["location"].startswith("/v1/realtime/calls/rtc_")
            for _ in range(450):
                events = page.evaluate("window.events")
                if _reply_ended(events):
                    break
                page.wait_for_timeout(100)
            state = page.evaluate("[window.pc.connectionState, window.pc.iceConnectionState]")
            assert _reply_ended(events), (events, state)
            assert page.evaluate("window.pc.connectionState") == "connected"
            assert page.evaluate("window.peak") > 0.05  # the reply was audible in the page
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "webrtc_chromium_events.png"))
            page.evaluate("window.pc.close()")  # hang up, so the emulator ends the call now
        finally:
            browser.close()
    for kind in (
        "input_audio_buffer.speech_started",
        "output_audio_buffer.started",
        "response.output_audio_transcript.done",
    ):
        assert kind in events, events
    assert "session.created" not in events and "response.done" not in events  # webrtcfilter=on


def _reply_ended(events: list[str]) -> bool:
    """The reply played out, or the looping fake microphone barged in on it (the filtered channel
    carries no `output_audio_buffer.cleared`: a barge-in shows as speech starting after the reply)."""
    if "output_audio_buffer.stopped" in events:
        return True
    if "output_audio_buffer.started" not in events:
        return False
    return "input_audio_buffer.speech_started" in events[events.index("output_audio_buffer.started") :]
