"""The recorder delivers clean 24 kHz audio however the browser's audio context runs.

Chromium grants a 24 kHz context and resamples the microphone itself. Other browsers refuse:
the AudioContext constructor may reject the rate, and Firefox rejects connecting a microphone
that runs at another rate. Those refusals are reproduced here with an init script, so the
recorder's own path (a context at the device rate, resampled in the worklet) runs in Chromium.
The microphone plays a 1 kHz tone plus a 15 kHz tone: the first must arrive at 1 kHz (the
rate is right), the second must not fold back to 9 kHz (the resampler filters before it
decimates).
"""

from __future__ import annotations

import time
import wave
from pathlib import Path

import numpy as np
import pytest
from browser_harness import KernelProbe, run_all_cells, write_notebook

RATE = 48_000

RECORDER = """\
from realtime_widgets import MicRecorder

chunks = []
# No echo cancellation, noise suppression or gain control: they would reshape the test tones.
recorder = MicRecorder(echo_cancellation=False, noise_suppression=False, auto_gain_control=False)
recorder.on_chunk(chunks.append)
recorder
"""

ANALYSIS = """(lambda np: (lambda x: (lambda spec, freqs: dict(
    context_rate=recorder.context_rate, error=recorder.error, lost=recorder.chunks_lost,
    samples=int(x.size), chunks=len(chunks), sizes=sorted({int(c.size) for c in chunks}),
    peak_hz=float(freqs[spec.argmax()]),
    tone=float(spec[(freqs > 950) & (freqs < 1050)].max()),
    alias=float(spec[(freqs > 8950) & (freqs < 9050)].max()),
))(np.abs(np.fft.rfft(x * np.hanning(x.size))), np.fft.rfftfreq(x.size, 1 / 24000))
)(np.concatenate(chunks[2:]).astype(np.float64) / 32768))(__import__('numpy'))"""

REFUSE_24K_CONTEXT = """
const NativeAudioContext = window.AudioContext;
window.AudioContext = class extends NativeAudioContext {
  constructor(options = {}) {
    if (options.sampleRate === 24000) throw new DOMException("The sample rate is not supported.", "NotSupportedError");
    super(options);
  }
};
"""

REFUSE_MIC_IN_24K_CONTEXT = """
const nativeCreate = AudioContext.prototype.createMediaStreamSource;
AudioContext.prototype.createMediaStreamSource = function (stream) {
  if (this.sampleRate === 24000) {
    throw new DOMException(
      "Connecting AudioNodes from AudioContexts with different sample-rate is currently not supported.",
      "NotSupportedError",
    );
  }
  return nativeCreate.call(this, stream);
};
"""


def _two_tone_wav(path: Path, seconds: float = 6.0) -> Path:
    t = np.arange(int(RATE * seconds)) / RATE
    x = 0.25 * np.sin(2 * np.pi * 1000 * t) + 0.25 * np.sin(2 * np.pi * 15000 * t)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((x * 32767).astype("<i2").tobytes())
    return path


@pytest.fixture(scope="module")
def mic_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _two_tone_wav(tmp_path_factory.mktemp("tones") / "tones-48k.wav")


@pytest.mark.parametrize(
    ("case", "init_script"),
    [
        ("native-24k", None),
        ("context-refuses-24k", REFUSE_24K_CONTEXT),
        ("mic-refuses-24k-context", REFUSE_MIC_IN_24K_CONTEXT),
    ],
)
def test_recorder_resamples_to_24khz_without_aliasing(page, jupyter_server, case, init_script):
    notebook = f"resample-{case}.ipynb"
    write_notebook(jupyter_server.root / notebook, [RECORDER])
    jupyter_server.start_kernel_for(notebook)
    if init_script:
        page.context.add_init_script(init_script)
    page.goto(jupyter_server.lab_url(notebook))
    run_all_cells(page)
    page.get_by_role("button", name="Record").click(timeout=60_000)
    page.get_by_role("button", name="Stop").wait_for()
    time.sleep(2.5)
    page.get_by_role("button", name="Stop").click()
    page.get_by_role("button", name="Record").wait_for()
    probe = KernelProbe(jupyter_server, notebook)
    try:
        probe.wait_for("not recorder.recording and len(chunks) > 10")
        state = probe.value(ANALYSIS)
    finally:
        probe.close()

    assert state["error"] == "" and state["lost"] == 0, state
    if init_script:
        assert state["context_rate"] != 24_000, "the refusal should have sent the recorder to its fallback"
    else:
        assert state["context_rate"] == 24_000
    assert 2400 in state["sizes"], state  # 100 ms chunks of 24 kHz samples
    assert 20 <= state["chunks"] <= 40, state  # about 2.5 s of audio
    assert abs(state["peak_hz"] - 1000) < 10, state  # played at the right rate
    alias_db = 20 * np.log10(state["alias"] / state["tone"])
    assert alias_db < -40, f"15 kHz folded back to 9 kHz at {alias_db:.1f} dB: {state}"
