"""Playback quality of AudioPlayer in Chromium: underruns and clicks over streamed responses.

    python bench/bench_playback.py [--responses 100] [--busy 3] [--save run.json | --load run.json]

JupyterLab + Chromium (Debian's, through Playwright) + the emulator in its own process, with
`--busy` other processes spinning on the CPU the whole time. A kernel task asks for `--responses`
spoken replies, one after the other, each played by an `AudioPlayer` as it streams. An init script
(the player's code is untouched) taps the page's output with an AudioWorklet in front of the
speakers, each 100 ms block stamped with its context frame, and logs every
`AudioBufferSourceNode.start` (where the player put each chunk) and the page's long tasks. Every
chunk is then compared, sample for sample, with what the kernel sent, at the frame it was
scheduled for (no searching: a search by correlation mistook one reply's opening for another's):

- underruns: the player's own count (gaps in the middle of a response when its queue ran dry,
  reported to the kernel and counted on the Turn); goal 0. Each is printed with how late the
  chunk came and where it was held up: the kernel behind real time (the service's pace), the
  kernel -> page path (comm, server, browser), or the page's main thread (long tasks);
- clicks at chunk joins: each chunk after the first must start where the one before ended and
  play as sent (|difference| <= 2 LSB); goal 0 joins off. A gap, or a start between two frames
  (Web Audio then interpolates, with a step at each join), is what a click is.
It also prints the start lead the player adds to a reply's latency. Exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _harness import CHROMIUM, KernelProbe, lab_with_emulator

SCREENSHOT = Path(__file__).resolve().parents[1] / "artifacts" / "bench_playback_player.png"
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
import time as _time
arrivals = []  # (item id, kernel epoch ms, samples) of every output delta, as the player got it
session.conversation.on_audio(
    lambda turn, way, pcm, _s: arrivals.append((turn.item_id if turn else None, _time.time() * 1000, len(pcm)))
    if way == "output" else None
)

async def speak_all(n):
    for i in range(n):
        turn = await session.send_text(f"Number {{i}}: the quick brown fox jumps over the lazy dog, twice.")
        await player.wait_until_played()
        await asyncio.sleep(0.3)  # let the page report; a pause between answers
        done.append((turn.item_id, [start for _, start, _ in turn.audio_deltas]))

player
"""

# Taps what goes to the speakers: a worklet in front of the destination posts 100 ms blocks, each
# with the context frame it starts at. It also logs every AudioBufferSourceNode.start (where the
# player put each chunk, and when) and the page's long tasks (main-thread stalls), for diagnosis.
TAP = """
(() => {
  const worklet = `class Tap extends AudioWorkletProcessor {
    constructor() { super(); this.buf = new Float32Array(2400); this.n = 0; this.frame = -1; }
    process(inputs) {
      const ch = inputs[0] && inputs[0][0];
      const frames = ch ? ch.length : 128;
      if (this.frame < 0) this.frame = currentFrame;
      for (let i = 0; i < frames; i++) {
        this.buf[this.n++] = ch ? ch[i] : 0;
        if (this.n === this.buf.length) {
          this.port.postMessage({ frame: this.frame, buf: this.buf });
          this.buf = new Float32Array(2400); this.n = 0; this.frame = currentFrame + i + 1;
        }
      }
      return true;
    }
  }
  registerProcessor("rw-bench-tap", Tap);`;
  const url = URL.createObjectURL(new Blob([worklet], { type: "text/javascript" }));
  window.__tap = { blocks: [], rate: 0, starts: [], stalls: [], made: [] };
  const epoch = () => performance.timeOrigin + performance.now();
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__tap.stalls.push([performance.timeOrigin + e.startTime, e.duration]);
  }).observe({ type: "longtask", buffered: true });
  const createBuffer = BaseAudioContext.prototype.createBuffer;
  BaseAudioContext.prototype.createBuffer = function (...args) {
    window.__tap.made.push([this.currentTime, args[1], epoch()]); // the player got a chunk
    return createBuffer.apply(this, args);
  };
  const start = AudioBufferSourceNode.prototype.start;
  AudioBufferSourceNode.prototype.start = function (when = 0, ...rest) {
    window.__tap.starts.push([when, this.context.currentTime, this.buffer ? this.buffer.length : 0, epoch()]);
    return start.call(this, when, ...rest);
  };
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

# What was tapped since the last call: int16 samples of each block and the frame it starts at.
TAKE = """() => {
  const t = window.__tap; const blocks = t.blocks; t.blocks = [];
  const n = blocks.reduce((a, b) => a + b.buf.length, 0);
  const pcm = new Int16Array(n); let k = 0;
  for (const b of blocks) for (let i = 0; i < b.buf.length; i++) pcm[k++] = Math.max(-32768, Math.min(32767, Math.round(b.buf[i] * 32768)));
  let s = ""; const bytes = new Uint8Array(pcm.buffer);
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
  const starts = t.starts; t.starts = []; const stalls = t.stalls; t.stalls = []; const made = t.made; t.made = [];
  return { rate: t.rate, b64: btoa(s), frames: blocks.map((b) => [b.frame, b.buf.length]), starts, stalls, made };
}"""


def collect(responses: int, n_busy: int) -> dict[str, Any]:
    """Run the page and the kernel; what was tapped, scheduled and sent (raw, for `analyse`)."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n_busy)]
    takes: list[dict[str, Any]] = []
    try:
        with lab_with_emulator("playback.ipynb", SETUP, init_script=TAP) as (server, page):
            page.locator(".rw-player").wait_for()
            page.wait_for_function("() => window.__tap && window.__tap.rate > 0")
            time.sleep(1.0)
            probe = KernelProbe(server, "playback.ipynb")
            probe.value(f"[asyncio.ensure_future(speak_all({responses})), None][1]")
            started = time.monotonic()
            while probe.value("len(done)") < responses:
                takes.append(page.evaluate(TAKE))
                if time.monotonic() - started > 60 + 20 * responses:
                    raise TimeoutError(f"only {probe.value('len(done)')} responses played")
                time.sleep(2.0)
            time.sleep(0.5)
            takes.append(page.evaluate(TAKE))
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.locator(".rw-player").screenshot(path=str(SCREENSHOT))  # its state and underrun title
            data = probe.value(
                "dict(done=done, underruns=player.underruns, arrivals=arrivals, "
                "turn_underruns=[t.underruns for t in session.conversation.turns])"
            )
            # The sent audio of each response, as the kernel's conversation holds it.
            data["sent_b64"] = probe.value(
                "[__import__('base64').b64encode(session.conversation.turn_for_item(i).audio"
                ".astype('<i2').tobytes()).decode() for i, _ in done]",
                timeout=120,
            )
            probe.close()
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()
    data["busy"] = n_busy
    data["rate"] = takes[-1]["rate"]
    data["frames"] = [f for t in takes for f in t["frames"]]
    data["starts"] = [s for t in takes for s in t["starts"]]
    data["stalls"] = [s for t in takes for s in t["stalls"]]
    data["made"] = [m for t in takes for m in t["made"]]
    data["tapped_b64"] = [t["b64"] for t in takes]
    return data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--responses", type=int, default=100)
    parser.add_argument("--busy", type=int, default=3, help="processes spinning on the CPU meanwhile")
    parser.add_argument("--save", type=Path, help="write the raw run here (JSON) for --load")
    parser.add_argument("--load", type=Path, help="analyse a saved run instead of running one")
    args = parser.parse_args()
    if args.load:
        data = json.loads(args.load.read_text())
    else:
        if not CHROMIUM.exists():
            print(f"skipped: {CHROMIUM} is absent")
            return 0
        data = collect(args.responses, args.busy)
        if args.save:
            args.save.parent.mkdir(parents=True, exist_ok=True)
            args.save.write_text(json.dumps(data))
    return analyse(data)


def tapped_by_frame(data: dict[str, Any]) -> tuple[int, np.ndarray]:
    """The tapped output and the context frame of its first sample.

    The worklet sees every render quantum, so the blocks are contiguous; a block's own stamp can be
    off by a quantum (the first one always is, and one in a few thousand under load), so the frame
    of the first sample is the median over the blocks of stamp minus samples before it."""
    output = np.concatenate([np.frombuffer(base64.b64decode(b), "<i2") for b in data["tapped_b64"]])
    stamps = np.array([frame for frame, _ in data["frames"]])
    before = np.concatenate([[0], np.cumsum([n for _, n in data["frames"]])[:-1]])
    return int(np.median(stamps - before)), output.astype(np.int32)


def chunks_of(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every delta sent, in order: where the page scheduled it, and when it reached the kernel and
    the page (`t`, `now`: the page's clock and context frame when the player got it)."""
    out = []
    # Runs saved before the page's arrivals were logged: the start() call stands for the arrival.
    got = data.get("made") or [[when_now[1], when_now[2], when_now[3]] for when_now in data["starts"]]
    rows = iter(
        ((when, now, length, t), arrival)
        for (when, _, length, _), (now, _, t), arrival in zip(
            data["starts"], got, data["arrivals"], strict=True
        )
    )
    for response, ((_item, joins), b64) in enumerate(zip(data["done"], data["sent_b64"], strict=True)):
        sent = np.frombuffer(base64.b64decode(b64), "<i2")
        for seq, (a, b) in enumerate(zip(joins, [*joins[1:], len(sent)], strict=True)):
            (when, now, length, t), (_, kt, n) = next(rows)
            assert length == n == b - a, "the page scheduled other chunks than the kernel sent"
            frame = when * data["rate"]
            out.append(
                dict(
                    response=response,
                    seq=seq,
                    pcm=sent[a:b],
                    frame=round(frame),
                    off_grid=abs(frame - round(frame)) > 1e-6,
                    now=now * data["rate"],
                    t=t,
                    kt=kt,
                    audio_before_ms=a / 24.0,
                )
            )
    return out


def analyse(data: dict[str, Any]) -> int:
    """Underruns and joins, each chunk checked sample for sample where the page scheduled it."""
    rate = data["rate"]
    if rate != 24000:
        print(f"the page's audio context runs at {rate} Hz, not 24000: no sample-exact comparison")
        return 1
    first, recorded = tapped_by_frame(data)
    chunks = chunks_of(data)
    joins_off = 0
    not_exact: set[int] = set()
    head: dict[str, Any] = {}
    previous_end = None
    print("underruns (each chunk that found its stream's queue dry):")
    for c in chunks:
        if c["seq"] == 0:
            head = c
            c["after_silence"] = previous_end is None or c["now"] >= previous_end
        n = len(c["pcm"])
        at = c["frame"] - first
        played = recorded[at : at + n].copy()
        fresh = c["seq"] == 0 or c["frame"] != previous_end
        if fresh:  # a (re)start fades in over its first samples
            played[:FADE] = c["pcm"][:FADE]
        exact = len(played) == n and np.abs(played - c["pcm"]).max() <= TOLERANCE
        if not exact or c["off_grid"]:
            not_exact.add(c["response"])
        if c["seq"] > 0 and (fresh or not exact):
            joins_off += 1
            not_exact.add(c["response"])
        if c["seq"] > 0 and fresh:
            # How late, and where it was held up: the kernel (the service's pace) or kernel -> page.
            kernel_late = (c["kt"] - head["kt"]) - c["audio_before_ms"]
            comm_extra = (c["t"] - c["kt"]) - (head["t"] - head["kt"])
            stalls = [round(d) for s, d in data["stalls"] if s + d > c["kt"] and s < c["t"]]
            print(
                f"  response {c['response']} chunk {c['seq']}: gap {(c['frame'] - previous_end) / 24:.0f} ms heard; "
                f"came {(c['now'] - previous_end) / 24:.0f} ms past the queue's end; kernel -> page {c['t'] - c['kt']:.0f} ms "
                f"({comm_extra:+.0f} vs the response's first chunk); kernel behind real time {kernel_late:.0f} ms; "
                f"page long tasks meanwhile {stalls} ms"
            )
        previous_end = c["frame"] + n
    starts = [c for c in chunks if c["seq"] == 0]
    # What the player adds to a reply's latency: from its first chunk reaching the page to its first
    # sample playing, after silence (not a reply queued behind another).
    lead_ms = np.array([(c["frame"] - c["now"]) / 24 for c in starts if c["after_silence"]])
    relay_ms = np.array(
        [(c["t"] - c["kt"]) + (c["frame"] - c["now"]) / 24 for c in starts if c["after_silence"]]
    )
    comm_ms = np.array([c["t"] - c["kt"] for c in chunks])
    n_joins = len(chunks) - len(starts)
    seconds = sum(len(c["pcm"]) for c in chunks) / 24000
    underruns = len(data["underruns"])
    exact = len(starts) - len(not_exact)
    print(
        f"{len(starts)} responses ({seconds:.0f} s of audio, {n_joins} chunk joins) with {data['busy']} busy "
        f"processes; output tapped: {len(recorded) / 24000:.0f} s at {rate} Hz"
    )
    print(
        f"latency the player adds, first chunk in the page -> its first sample plays (ms): median "
        f"{np.median(lead_ms):.0f}, p95 {np.percentile(lead_ms, 95):.0f}, max {lead_ms.max():.0f}; kernel -> first "
        f"sample plays: median {np.median(relay_ms):.0f}, p95 {np.percentile(relay_ms, 95):.0f}"
    )
    print(
        f"kernel -> page per chunk (ms): median {np.median(comm_ms):.0f}, p99 {np.percentile(comm_ms, 99):.0f}, "
        f"max {comm_ms.max():.0f}; chunks started between two frames: {sum(c['off_grid'] for c in chunks)}"
    )
    print(f"{'measure':48} {'goal':>6} {'measured':>9}  ok")
    rows = [
        ("underruns (page reports)", 0, underruns),
        ("chunk joins not sample-exact (gaps included)", 0, joins_off),
        ("responses not played exactly as sent (gapless)", 0, len(starts) - exact),
    ]
    for name, goal, value in rows:
        print(f"{name:48} {goal:>6} {value:>9}  {'yes' if value <= goal else 'NO'}")
    assert sum(data["turn_underruns"]) == sum(1 for s, _, _ in data["underruns"] if not s.startswith("play-"))
    return 0 if underruns == 0 and joins_off == 0 and exact == len(starts) else 1


if __name__ == "__main__":
    sys.exit(main())
