"""Shared by the WebRTC console browser tests: a fake microphone that asks once and then waits, the
init script that leaves ICE no path, and the kernel-side report of a tapped turn."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
from browser_harness import MIC_RATE, make_fake_mic_wav

QUIET_AFTER_S = 8  # after the question: time for the reply before the fake microphone loops


def question_then_quiet(path: Path, quiet_s: float = QUIET_AFTER_S) -> Path:
    """The question, then `quiet_s` of silence (by default long enough that the answer is heard before
    it is asked again)."""
    make_fake_mic_wav(path)
    with wave.open(str(path), "rb") as w:
        frames = w.readframes(w.getnframes())
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(MIC_RATE)
        w.writeframes(frames + np.zeros(int(MIC_RATE * quiet_s), dtype="<i2").tobytes())
    return path


BLOCK_ICE = """
// A network with no way to the service: only relayed candidates allowed, and no relay server.
const Native = window.RTCPeerConnection;
window.RTCPeerConnection = function (config) {
  return new Native({ ...(config || {}), iceTransportPolicy: "relay", iceServers: [] });
};
window.RTCPeerConnection.prototype = Native.prototype;
"""

# A notebook cell: what the kernel recorded of a tapped turn, against eSpeak's length of its words.
TURN_REPORT = """\
def turn_report(turn, voice):
    from realtime_widgets.emulator import synthesize
    from tests.emulator.webrtc_client import voiced_seconds
    def peak(x):
        return int(np.abs(x.astype(np.int32)).max()) if x.size else 0
    return dict(
        status=turn.status, user=turn.user_transcript, assistant=turn.transcript,
        user_voiced=voiced_seconds(turn.user_audio), user_peak=peak(turn.user_audio),
        voiced=voiced_seconds(turn.audio), peak=peak(turn.audio), duration=turn.duration_s,
        expected_voiced=voiced_seconds(np.asarray(synthesize(turn.transcript, voice))),
        user_expected_voiced=voiced_seconds(np.asarray(synthesize(turn.user_transcript or "", "alloy"))),
        truncated_ms=getattr(turn, "truncated_ms", None),
    )
"""
