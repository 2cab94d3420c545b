"""Playback quality of AudioPlayer in Chromium: underruns and clicks over streamed responses.

    python bench/bench_playback.py [--responses 100] [--busy 3]

JupyterLab + Chromium (Debian's, through Playwright) + the emulator in its own process, with
`--busy` other processes spinning on the CPU the whole time. A kernel task asks for `--responses`
spoken replies, one after the other, each played by an `AudioPlayer` as it streams. The page's
output is recorded by an AudioWorklet tapped in front of the speakers (an init script wraps
`AudioNode.connect` to the destination; the player's code is untouched), and every response is
compared, sample for sample, with the audio the kernel sent:

- underruns: the player's own count (gaps in the middle of a response when its queue ran dry,
  reported to the kernel and counted on the Turn); goal 0;
- clicks at chunk joins: at every join between two deltas, the recorded output must equal the
  sent audio (|difference| <= 2 LSB); goal 0 joins off. A gap or a join that is not sample-exact
  is a step in the waveform, which is what a click is.
Exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import base64
import subprocess
import sys
import time

import numpy as np
from _harness import CHROMIUM, KernelProbe, lab_with_emulator

TOLERANCE = 2  # LSB: float32 -> int16 rounding on the way back
FADE = 48  # player.js FADE_SAMPLES: a stream starts with a 2 ms fade-in

SETUP = """\
import asyncio
from types import SimpleNamespace
from realtime_widgets import ConnectionConfig, RealtimeSession, SessionConfig
from realtime_widgets.widgets import AudioPlayer

connection = ConnectionConfig.for_emulator(
    SimpleNamespace(endpoint="{endpoint}", deployment="gpt-realtime", api_key="emulator-key")
)
session = RealtimeSession(connection, SessionConfig(turn_detection="manual"))
await session.connect()
player = AudioPlayer(); player.connect(session)
done = []  # (item id, first output sample of each delta) per response played to its end

async def speak_all(n):
    for i in range(n):
        turn = await session.send_text(f"Number {{i}}: the quick brown fox jumps over the lazy dog, twice.")
        await player.wait_until_played()
        await asyncio.sleep(0.3)  # let the page report; a pause between answers
        done.append((turn.item_id, [start for _, start, _ in turn.audio_deltas]))

player
"""

# Taps what goes to the speakers: a worklet in front of the destination posts 100 ms blocks.
TAP = """
(() => {
  const worklet = `class Tap extends AudioWorkletProcessor {
    constructor() { super(); this.buf = new Float32Array(2400); this.n = 0; }
    process(inputs) {
      const ch = inputs[0] && inputs[0][0];
      const frames = ch ? ch.length : 128;
      for (let i = 0; i < frames; i++) {
        this.buf[this.n++] = ch ? ch[i] : 0;
        if (this.n === this.buf.length) { this.port.postMessage(this.buf); this.buf = new Float32Array(2400); this.n = 0; }
      }
      return true;
    }
  }
  registerProcessor("rw-bench-tap", Tap);`;
  const url = URL.createObjectURL(new Blob([worklet], { type: "text/javascript" }));
  window.__tap = { blocks: [], rate: 0 };
  const connect = AudioNode.prototype.connect;
  AudioNode.prototype.connect = function (target, ...rest) {
    const out = connect.call(this, target, ...rest);
    if (target instanceof AudioDestinationNode && !this.__tapped) {
      this.__tapped = true;
      const ctx = this.context;
      window.__tap.rate = ctx.sampleRate;
      ctx.audioWorklet.addModule(url).then(() => {
        const node = new AudioWorkletNode(ctx, "rw-bench-tap", { numberOfInputs: 1, numberOfOutputs: 1, channelCount: 1, channelCountMode: "explicit" });
        node.port.onmessage = (e) => window.__tap.blocks.push(e.data);
        const mute = ctx.createGain(); mute.gain.value = 0;
        connect.call(this, node); connect.call(node, mute); connect.call(mute, ctx.destination);
      });
    }
    return out;
  };
})();
"""

TAKE = """() => {
  const blocks = window.__tap.blocks; window.__tap.blocks = [];
  const n = blocks.reduce((a, b) => a + b.length, 0);
  const pcm = new Int16Array(n); let k = 0;
  for (const b of blocks) for (let i = 0; i < b.length; i++) pcm[k++] = Math.max(-32768, Math.min(32767, Math.round(b[i] * 32768)));
  let s = ""; const bytes = new Uint8Array(pcm.buffer);
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
  return { rate: window.__tap.rate, b64: btoa(s) };
}"""


def _locate(recorded: np.ndarray, sent: np.ndarray, since: int) -> int | None:
    """Where `sent` starts in `recorded` (after `since`), by its first loud stretch after the fade."""
    from scipy.signal import correlate

    head = sent[FADE : FADE + 4800].astype(np.float64)
    window = recorded[since:].astype(np.float64)
    if len(window) < len(head) or not head.any():
        return None
    score = correlate(window, head, mode="valid", method="fft")
    at = int(np.argmax(score))
    if np.abs(window[at : at + len(head)] - head).max() > TOLERANCE:
        return None
    return since + at - FADE


def compare(recorded: np.ndarray, sent: np.ndarray, joins: list[int], since: int) -> dict[str, float | int]:
    """Joins off (|output - sent| > TOLERANCE just around a join) and the largest difference."""
    start = _locate(recorded, sent, since)
    if start is None or start + len(sent) > len(recorded):
        return {"found": 0, "joins_off": len(joins), "max_diff": float("nan"), "end": since}
    played = recorded[start : start + len(sent)].astype(np.int32)
    diff = np.abs(played - sent.astype(np.int32))
    diff[:FADE] = 0
    off = sum(1 for j in joins if j > 0 and diff[max(0, j - 2) : j + 2].max() > TOLERANCE)
    return {"found": 1, "joins_off": off, "max_diff": int(diff.max()), "end": start + len(sent)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--responses", type=int, default=100)
    parser.add_argument("--busy", type=int, default=3, help="processes spinning on the CPU meanwhile")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print(f"skipped: {CHROMIUM} is absent")
        return 0
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    recorded: list[np.ndarray] = []
    try:
        with lab_with_emulator("playback.ipynb", SETUP, init_script=TAP) as (server, page):
            page.locator(".rw-player").wait_for()
            page.wait_for_function("() => window.__tap && window.__tap.rate > 0")
            time.sleep(1.0)
            probe = KernelProbe(server, "playback.ipynb")
            probe.value(f"[asyncio.ensure_future(speak_all({args.responses})), None][1]")
            started = time.monotonic()
            while probe.value("len(done)") < args.responses:
                taken = page.evaluate(TAKE)
                recorded.append(np.frombuffer(base64.b64decode(taken["b64"]), "<i2"))
                if time.monotonic() - started > 60 + 20 * args.responses:
                    raise TimeoutError(f"only {probe.value('len(done)')} responses played")
                time.sleep(2.0)
            time.sleep(0.5)
            taken = page.evaluate(TAKE)
            recorded.append(np.frombuffer(base64.b64decode(taken["b64"]), "<i2"))
            rate = taken["rate"]
            data = probe.value(
                "dict(done=done, underruns=player.underruns, "
                "turn_underruns=[t.underruns for t in session.conversation.turns])"
            )
            # The sent audio of each response, as the kernel's conversation holds it.
            sent_b64 = probe.value(
                "[__import__('base64').b64encode(session.conversation.turn_for_item(i).audio"
                ".astype('<i2').tobytes()).decode() for i, _ in done]",
                timeout=120,
            )
            probe.close()
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()

    output = np.concatenate(recorded) if recorded else np.zeros(0, np.int16)
    if rate != 24000:
        print(f"the page's audio context runs at {rate} Hz, not 24000: sample-exact comparison skipped")
    results = []
    since = 0
    for (_item, joins), b64 in zip(data["done"], sent_b64, strict=True):
        sent = np.frombuffer(base64.b64decode(b64), "<i2")
        result = compare(output, sent, joins, since) if rate == 24000 else {"found": 0, "joins_off": 0}
        since = int(result.get("end", since))
        results.append(result)
    n_joins = sum(len(j) - 1 for _, j in data["done"])
    underruns = len(data["underruns"])
    joins_off = sum(int(r["joins_off"]) for r in results)
    found = sum(int(r["found"]) for r in results)
    diffs = [r["max_diff"] for r in results if r.get("found")]
    seconds = sum(len(np.frombuffer(base64.b64decode(b), "<i2")) for b in sent_b64) / 24000
    print(
        f"{len(results)} responses ({seconds:.0f} s of audio, {n_joins} chunk joins) with {args.busy} busy "
        f"processes; output recorded: {len(output) / 24000:.0f} s at {rate} Hz"
    )
    print(
        f"responses found sample-exact in the output: {found} / {len(results)}; largest |difference| "
        f"{max(diffs) if diffs else float('nan')} LSB"
    )
    if data["underruns"]:
        print("underruns (stream, before chunk, gap ms):", data["underruns"][:10])
    print(f"{'measure':40} {'goal':>6} {'measured':>9}  ok")
    rows = [("underruns (page reports)", 0, underruns), ("chunk joins not sample-exact", 0, joins_off)]
    for name, goal, value in rows:
        print(f"{name:40} {goal:>6} {value:>9}  {'yes' if value <= goal else 'NO'}")
    assert sum(data["turn_underruns"]) == sum(1 for s, _, _ in data["underruns"] if not s.startswith("play-"))
    return 0 if underruns == 0 and joins_off == 0 and found == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
