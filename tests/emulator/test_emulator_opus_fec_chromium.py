"""Chromium really decodes the emulator's Opus FEC: under 20 % RTP loss, a spoken reply is
concealed far less (`concealedSamples` per lost packet) when the offer says `useinbandfec=1` (Chromium's own offer) than when the page
strips it (the emulator then sends aiortc's encoder, without FEC). From the page's inbound-rtp stats."""

from __future__ import annotations

from pathlib import Path

import pytest
from openai import OpenAI

pytest.importorskip("playwright")
from tests.browser.browser_harness import CHROMIUM, chromium_args, make_fake_mic_wav  # noqa: E402
from tests.emulator.webrtc_client import calls_end

pytestmark = pytest.mark.usefixtures(calls_end.__name__)

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
REPLY = "The weather today is sunny and warm, with a light breeze from the west, and no rain at all."

CALL = """async ({key, base, fec, reply}) => {
  const pc = new RTCPeerConnection();
  const mic = await navigator.mediaDevices.getUserMedia({audio: true});
  mic.getAudioTracks()[0].enabled = false;  // silence: no turn from the microphone
  pc.addTrack(mic.getAudioTracks()[0], mic);
  window.events = [];
  pc.ontrack = (e) => {
    const player = new Audio(); player.srcObject = new MediaStream([e.track]); player.muted = true;
    player.play();
  };
  const dc = pc.createDataChannel("oai-events");
  dc.onmessage = (e) => {
    window.events.push(JSON.parse(e.data).type);
    document.body.innerText = window.events.join("\\n");
  };
  dc.onopen = () => dc.send(JSON.stringify({type: "response.create", response: {
    instructions: `Say "${reply}"`, output_modalities: ["audio"]}}));
  await pc.setLocalDescription(await pc.createOffer());
  const offer = fec ? pc.localDescription.sdp : pc.localDescription.sdp.replace(/;?useinbandfec=1/g, "");
  const r = await fetch(base + "/openai/v1/realtime/calls", {
    method: "POST", body: offer,
    headers: {"Authorization": "Bearer " + key, "Content-Type": "application/sdp"},
  });
  const answer = await r.text();
  await pc.setRemoteDescription({type: "answer", sdp: answer});
  window.pc = pc;
  return {status: r.status, offered: /useinbandfec=1/.test(offer), answered: /useinbandfec=1/.test(answer)};
}"""

INBOUND = """async () => {
  for (const s of (await window.pc.getStats()).values())
    if (s.type === "inbound-rtp" && s.kind === "audio") return s;
  return null;
}"""


def _reply_stats(emulator, tmp_path: Path, fec: bool) -> dict:
    from playwright.sync_api import sync_playwright

    client = OpenAI(base_url=f"http://127.0.0.1:{emulator.port}/openai/v1", api_key=emulator.api_key)
    key = client.realtime.client_secrets.create(session={"type": "realtime", "model": "gpt-realtime"}).value
    mic = make_fake_mic_wav(tmp_path / "mic.wav", "Hello.")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=chromium_args(mic))
        try:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{emulator.port}/")
            base = f"http://127.0.0.1:{emulator.port}"
            sdp = page.evaluate(CALL, {"key": key, "base": base, "fec": fec, "reply": REPLY})
            assert sdp == {"status": 201, "offered": fec, "answered": fec}, sdp
            for _ in range(300):
                if "output_audio_buffer.stopped" in page.evaluate("window.events"):
                    break
                page.wait_for_timeout(100)
            assert "output_audio_buffer.stopped" in page.evaluate("window.events")
            stats = page.evaluate(INBOUND)
            shown = {k: stats[k] for k in ("packetsLost", "concealedSamples", "fecPacketsReceived")}
            page.evaluate("(s) => { document.body.innerText += '\\n\\n' + s; }", f"fec={fec} {shown}")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"webrtc_opus_fec_{'on' if fec else 'off'}.png"))
            page.evaluate("window.pc.close()")
        finally:
            browser.close()
    return stats


def test_chromium_conceals_less_of_a_lossy_reply_with_the_emulators_fec(emulator, tmp_path):
    emulator.faults.network_loss = 0.2
    emulator.faults.network_jitter_ms = 20  # a jitter buffer deep enough to hold the next packet
    on = _reply_stats(emulator, tmp_path, fec=True)
    off = _reply_stats(emulator, tmp_path, fec=False)

    def concealed_per_lost(s: dict) -> float:  # in 20 ms frames (48 kHz)
        return s["concealedSamples"] / 960 / max(s["packetsLost"], 1)

    assert on["packetsLost"] >= 10 and off["packetsLost"] >= 10, (on, off)
    # Chromium's NetEq counts the packets it decoded FEC from; measured 181 of 200 with it, 0 without.
    assert on["fecPacketsReceived"] > 0.25 * on["packetsReceived"] and off["fecPacketsReceived"] == 0, (
        on,
        off,
    )
    # Measured 0.26 frame concealed per lost packet with FEC, 0.90 without.
    assert concealed_per_lost(on) < 0.6 * concealed_per_lost(off), (
        concealed_per_lost(on),
        concealed_per_lost(off),
    )
