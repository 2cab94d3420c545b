"""The console's speaker row over WebRTC in JupyterLab and real Chromium: its Mute silences the call's
audio the page plays (tapped from the stream its <audio> element plays) while the kernel still records
the model's track; Unmute restores it; replaying a past turn still goes through the player."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from browser_harness import KernelProbe, open_notebook, set_theme
from webrtc_pages import question_then_quiet


@pytest.fixture(scope="module")
def mic_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Asked once, then quiet for longer than the answer: nobody barges in."""
    return question_then_quiet(tmp_path_factory.mktemp("mic") / "question.wav", quiet_s=40)


# The played audio: every stream an <audio> element is given to play is tapped on a context of its own;
# every 50 ms the peak of the last 2048 samples is kept with its time (performance.now(), ms).
PLAYED_TAP = """
window.__played = [];
const nativeSrcObject = Object.getOwnPropertyDescriptor(HTMLMediaElement.prototype, "srcObject");
Object.defineProperty(HTMLMediaElement.prototype, "srcObject", {
  get() { return nativeSrcObject.get.call(this); },
  set(stream) {
    nativeSrcObject.set.call(this, stream);
    if (!stream || !stream.getAudioTracks().length) return;
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 2048;
    ctx.createMediaStreamSource(stream).connect(analyser);
    const buf = new Float32Array(analyser.fftSize);
    setInterval(() => {
      analyser.getFloatTimeDomainData(buf);
      let peak = 0;
      for (const x of buf) peak = Math.max(peak, Math.abs(x));
      window.__played.push([performance.now(), peak]);
    }, 50);
  },
});
"""

CONSOLE = """\
from realtime_widgets import RealtimeConsole, SessionConfig

LONG = " ".join(["The quick brown fox jumps over the lazy dog."] * 6)
console = RealtimeConsole(
    transport="webrtc", config=SessionConfig(instructions=f'Say "{LONG}"', transcription_model="whisper-1")
)
out_peaks = []  # the kernel's tap of the model's track, 100 ms a chunk
# (bound to this cell's list: should Run All run the cell twice, the first console's call adds nothing)
console.call.widget.on_tap(lambda side, pcm, at, peaks=out_peaks: side == "output" and peaks.append(int(abs(pcm.astype(int)).max())))
console"""


def _played_peak(page, seconds: float) -> float:
    """The loudest the played stream was over the next `seconds`."""
    since = page.evaluate("performance.now()")
    time.sleep(seconds)
    peaks = page.evaluate(f"window.__played.filter(([t]) => t > {since}).map(([, p]) => p)")
    assert len(peaks) >= 5, "the played-audio tap reported nothing"
    return max(peaks)


def test_mute_over_webrtc_silences_the_call_and_unmute_restores_it(page, jupyter_server, artifacts) -> None:
    page.context.add_init_script(PLAYED_TAP)
    name = "console_webrtc_speaker.ipynb"
    open_notebook(page, jupyter_server, name, [CONSOLE])
    page.locator('.rw-call-state[data-state="connected"]').wait_for(timeout=60_000)
    page.get_by_role("button", name="Record").click()
    page.locator(".rw-call-speaking", has_text="Model: speaking").wait_for(timeout=60_000)
    page.get_by_role("button", name="Stop").click()  # the microphone off: the 15 s answer plays on
    # The one Speaker label beside the call tells of the call's audio too, not "idle".
    page.locator(".rw-player-state .rw-state-value", has_text="playing the call").wait_for(timeout=10_000)
    mute = page.locator(".rw-player .rw-mute")
    with KernelProbe(jupyter_server, name) as probe:
        time.sleep(0.5)
        loud = _played_peak(page, 1.0)
        mute.click()
        assert probe.wait_for("console.call.widget.speaker_muted", timeout=5)
        time.sleep(0.3)  # the render quanta already queued
        chunks = probe.value("len(out_peaks)")
        muted = _played_peak(page, 1.5)
        page.locator(".rw-console").screenshot(path=str(artifacts / "console_webrtc_muted.png"))
        set_theme(page, "JupyterLab Dark")
        page.locator(".rw-console").screenshot(path=str(artifacts / "console_webrtc_muted_dark.png"))
        set_theme(page, "JupyterLab Light")  # the server's setting: later tests expect the light theme
        recorded = probe.value(f"max(out_peaks[{chunks}:] or [0])")
        mute.click()
        assert probe.wait_for("not console.call.widget.speaker_muted", timeout=5)
        time.sleep(0.3)
        again = _played_peak(page, 1.0)
        print(
            f"played peak: {loud:.3f} before Mute, {muted:.4f} muted, {again:.3f} after; recorded {recorded}"
        )
        assert loud > 0.05 and again > 0.05, (loud, again)  # speech on the played stream
        assert muted < 0.002, muted  # Mute silenced what the page plays
        assert recorded > 1500, recorded  # ... and the kernel still recorded the answer while muted
        # The event log lists the service's events; the taps are only counted in its header.
        header = page.locator(".rw-event-log .rw-ev-status").inner_text()
        assert "call audio tapped: you" in header, header
        assert page.locator(".rw-event-log .rw-ev-type", has_text="webrtc.").count() == 0
        # Replaying a past turn still goes through the console's player.
        probe.wait_for("console.session.conversation.turns[-1].status != 'in_progress'", timeout=40)
        page.get_by_role("button", name="Play assistant turn", exact=False).last.click()
        value = page.locator(".rw-player-state .rw-state-value")
        value.filter(has_text=re.compile(r"^playing$")).wait_for(timeout=15_000)  # the player's own
        probe.value("[console.close(), None][1]")
