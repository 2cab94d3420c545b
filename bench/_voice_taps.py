"""The page side of bench_voice_latency.py: taps on the page's audio graph, and turns found in them.

An init script taps, in Chromium, (1) the microphone stream the page captured (getUserMedia is
wrapped) and (2) what the page plays: for the WebSocket relay the player's node in front of the
speakers (AudioNode.connect to the destination is wrapped, as in bench_playback.py), for WebRTC the
model's remote track (RTCPeerConnection is wrapped; the page still plays it its own way). Each tap is
an AudioWorklet that reports, per 128-frame render quantum, its peak and the first and last sample
at or above an audible threshold. Times go onto one clock, performance.now(), through each
context's getOutputTimestamp(): a sample's time is when that context plays it at the speakers.
For WebRTC the page's inbound-rtp stats are sampled every 100 ms (concealment, loss, jitter buffer).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

AUDIBLE = 0.01  # -40 dBFS: a sample at or above this is audible speech (either side)
PAUSE_MS = 700.0  # a quiet stretch this long ends an utterance (eSpeak's own pauses are shorter)
REPLY_PAUSE_MS = 400.0  # the same for a reply (a short one: its words are close together)
MIN_REPLY_MS = 250.0  # no reply can start sooner after the question: server VAD waits longer than this

_WORKLET = r"""
class Envelope extends AudioWorkletProcessor {
  constructor(o) { super(); this.th = o.processorOptions.threshold; this.rows = []; }
  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    let peak = 0, first = -1, last = -1;
    if (ch) for (let i = 0; i < ch.length; i++) {
      const a = Math.abs(ch[i]);
      if (a > peak) peak = a;
      if (a >= this.th) { if (first < 0) first = i; last = i; }
    }
    this.rows.push(currentFrame, peak, first, last);
    if (this.rows.length >= 4 * 32) { this.port.postMessage(this.rows); this.rows = []; }
    return true;
  }
}
registerProcessor("rw-v2v-envelope", Envelope);
"""

_INIT = r"""
(() => {
  if (window.__v2v) return;
  const MODE = "%(mode)s", TH = %(threshold)s;
  const url = URL.createObjectURL(new Blob([%(worklet)s], { type: "text/javascript" }));
  const V = (window.__v2v = { mic: [], out: [], stats: [], info: {}, pcs: [], errors: [] });
  const connect = AudioNode.prototype.connect;
  let benchCtx = null;
  const bench = () => (benchCtx = benchCtx || new AudioContext({ latencyHint: "interactive" }));
  async function tap(ctx, source, name) {
    try {
      await ctx.audioWorklet.addModule(url);
      const node = new AudioWorkletNode(ctx, "rw-v2v-envelope", {
        numberOfInputs: 1, numberOfOutputs: 1, channelCount: 1, channelCountMode: "explicit",
        processorOptions: { threshold: TH },
      });
      node.port.onmessage = (e) => {
        // Context seconds -> performance.now() ms at which the context's output plays them.
        const ts = ctx.getOutputTimestamp();
        const base = ts.contextTime > 0 ? ts.performanceTime - ts.contextTime * 1000
                                        : performance.now() - ctx.currentTime * 1000;
        const rows = e.data, ms = 1000 / ctx.sampleRate, out = V[name];
        for (let i = 0; i < rows.length; i += 4) {
          const t = base + rows[i] * ms;
          out.push(t, rows[i + 1], rows[i + 2] < 0 ? -1 : t + rows[i + 2] * ms, rows[i + 3] < 0 ? -1 : t + rows[i + 3] * ms);
        }
      };
      const mute = ctx.createGain();
      mute.gain.value = 0;
      connect.call(source, node); connect.call(node, mute); connect.call(mute, ctx.destination);
      V.info[name] = { rate: ctx.sampleRate, baseLatency: ctx.baseLatency, outputLatency: ctx.outputLatency || 0 };
    } catch (err) { V.errors.push(`${name}: ${err}`); }
  }
  const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    const stream = await gum(constraints);
    if (!V.info.mic && !V.micTapped && stream.getAudioTracks().length) {
      V.micTapped = true;
      const ctx = bench();
      tap(ctx, ctx.createMediaStreamSource(stream), "mic");
    }
    return stream;
  };
  if (MODE === "websocket") {
    AudioNode.prototype.connect = function (target, ...rest) {
      const out = connect.call(this, target, ...rest);
      if (target instanceof AudioDestinationNode && this.context !== benchCtx && !V.outTapped) {
        V.outTapped = true;
        tap(this.context, this, "out");
      }
      return out;
    };
  } else {
    const PC = window.RTCPeerConnection;
    window.RTCPeerConnection = function (...args) {
      const pc = new PC(...args);
      V.pcs.push(pc);
      pc.addEventListener("track", (e) => {
        if (e.track.kind !== "audio" || V.outTapped) return;
        V.outTapped = true;
        const ctx = bench();
        tap(ctx, ctx.createMediaStreamSource(new MediaStream([e.track])), "out");
      });
      return pc;
    };
    window.RTCPeerConnection.prototype = PC.prototype;
    setInterval(async () => {
      for (const pc of V.pcs) {
        if (pc.connectionState === "closed") continue;
        const report = await pc.getStats();
        report.forEach((s) => {
          if (s.type === "inbound-rtp" && s.kind === "audio") {
            V.stats.push([performance.now(), s.concealmentEvents || 0, s.packetsLost || 0,
                          s.jitterBufferDelay || 0, s.jitterBufferEmittedCount || 0, s.packetsReceived || 0,
                          s.concealedSamples || 0, s.silentConcealedSamples || 0, s.fecPacketsReceived || 0,
                          s.insertedSamplesForDeceleration || 0, s.packetsDiscarded || 0,
                          s.jitterBufferTargetDelay || 0]);
          }
        });
      }
    }, 100);
  }
})();
"""

# Hands the page's new rows to Python (and forgets them in the page).
TAKE = """() => {
  const V = window.__v2v;
  const r = { mic: V.mic, out: V.out, stats: V.stats, info: V.info, errors: V.errors, now: performance.now() };
  V.mic = []; V.out = []; V.stats = [];
  return r;
}"""


def init_script(mode: str) -> str:
    """The taps for `mode` "websocket" (the relay's player) or "webrtc" (the remote track)."""
    import json

    return _INIT % {"mode": mode, "threshold": AUDIBLE, "worklet": json.dumps(_WORKLET)}


@dataclass
class Turn:
    speech_end_ms: float  # t0: the last audible microphone sample of the utterance
    reply_ms: float | None = None  # t1: the first audible reply sample after t0
    reply_end_ms: float | None = None  # the reply's last audible sample seen (so far)

    @property
    def voice_to_voice_ms(self) -> float | None:
        return None if self.reply_ms is None else self.reply_ms - self.speech_end_ms


@dataclass
class Taps:
    """The rows taken so far (time ms, peak, first audible ms, last audible ms) and what they say."""

    mic: list[np.ndarray] = field(default_factory=list)
    out: list[np.ndarray] = field(default_factory=list)
    stats: list[list[float]] = field(default_factory=list)
    now_ms: float = 0.0

    def add(self, taken: dict) -> None:
        for name in ("mic", "out"):
            rows = np.asarray(taken[name], dtype=np.float64).reshape(-1, 4)
            getattr(self, name).append(rows)
        self.stats.extend(taken["stats"])
        self.now_ms = float(taken["now"])

    def _rows(self, name: str) -> np.ndarray:
        parts = getattr(self, name)
        return np.concatenate(parts) if parts else np.zeros((0, 4))

    @staticmethod
    def _spans(rows: np.ndarray, pause_ms: float) -> list[tuple[float, float]]:
        """(first, last) audible ms of each stretch of sound whose inner pauses are under `pause_ms`."""
        loud = rows[rows[:, 2] >= 0]
        if not len(loud):
            return []
        breaks = np.flatnonzero(loud[1:, 2] - loud[:-1, 3] > pause_ms) + 1
        starts = np.concatenate([[0], breaks])
        ends = np.concatenate([breaks - 1, [len(loud) - 1]])
        return [(float(loud[a, 2]), float(loud[b, 3])) for a, b in zip(starts, ends, strict=True)]

    def utterances(self) -> list[tuple[float, float]]:
        """(start, end) ms of each finished utterance in the microphone signal."""
        rows = self._rows("mic")
        spans = self._spans(rows, PAUSE_MS)
        if spans and (not len(rows) or rows[-1, 0] - spans[-1][1] <= PAUSE_MS):
            spans.pop()  # may go on
        return spans

    def turns(self) -> list[Turn]:
        """One turn per finished utterance but the first (the fake microphone may start mid-way).

        Its reply is the first stretch of output sound that starts at least MIN_REPLY_MS after the
        question ended (sooner is the end of an earlier, late reply) and before the next question."""
        replies = self._spans(self._rows("out"), REPLY_PAUSE_MS)
        spoken = self.utterances()
        turns = []
        for i, (_start, end) in enumerate(spoken):
            if i == 0:
                continue
            next_start = spoken[i + 1][0] if i + 1 < len(spoken) else np.inf
            turn = Turn(end)
            for first, last in replies:
                if end + MIN_REPLY_MS <= first < next_start:
                    turn.reply_ms, turn.reply_end_ms = first, last
                    break
            turns.append(turn)
        return turns

    def concealments_in(self, spans: list[tuple[float, float]]) -> tuple[int, int]:
        """WebRTC: concealment events (the jitter buffer ran dry: a packet late or lost) while a
        reply was audible, and all of them."""
        if len(self.stats) < 2:
            return 0, 0
        s = np.asarray(self.stats)
        steps = np.diff(s[:, 1])
        t = s[1:, 0]
        during = np.zeros(len(t), dtype=bool)
        for a, b in spans:
            during |= (t >= a) & (t <= b + 200)  # a sample covers the 100 ms before it
        return int(steps[during].sum()), int(steps.sum())

    def jitter_buffer_ms(self) -> float:
        """WebRTC: the mean time a sample spent in the jitter buffer (inbound-rtp stats)."""
        if len(self.stats) < 2:
            return float("nan")
        s = np.asarray(self.stats)
        emitted = s[-1, 4] - s[0, 4]
        return float((s[-1, 3] - s[0, 3]) / emitted * 1000) if emitted else float("nan")

    def packets(self) -> tuple[int, int]:
        """WebRTC: (received, lost) inbound RTP packets during the run."""
        if not self.stats:
            return 0, 0
        s = np.asarray(self.stats)
        return int(s[-1, 5] - s[0, 5]), int(s[-1, 2] - s[0, 2])


# Columns of a stats row (the page's inbound-rtp sample, see _INIT).
_LOST, _CONCEALED, _SILENT, _FEC, _DISCARDED = 2, 6, 7, 8, 10


def concealment_causes(taps: Taps, spans: list[tuple[float, float]]) -> dict[str, float]:
    """WebRTC: each concealment event while a reply was audible, by cause. "lost": a packet was
    counted lost in the same or the previous 100 ms sample (a loss shows at playout a jitter-buffer
    delay after it is counted); "late": none was, so the buffer ran dry waiting (jitter, or the
    sender paused). Also, over the whole run: FEC packets received, packets discarded (arrived too
    late to play) and the ms of audible (non-silent) concealment."""
    if len(taps.stats) < 3:
        return {}
    s = np.asarray(taps.stats)
    if s.shape[1] <= _DISCARDED:
        return {}
    d = np.diff(s, axis=0)
    t = s[1:, 0]
    during = np.zeros(len(t), dtype=bool)
    for a, b in spans:
        during |= (t >= a) & (t <= b + 200)
    lost_near = (d[:, _LOST] > 0) | np.concatenate([[False], d[:-1, _LOST] > 0])
    events = d[:, 1] * during
    return {
        "lost": float(events[lost_near].sum()),
        "late": float(events[~lost_near].sum()),
        "fec_packets": float(s[-1, _FEC] - s[0, _FEC]),
        "discarded": float(s[-1, _DISCARDED] - s[0, _DISCARDED]),
        "audible_concealed_ms": float(
            ((s[-1, _CONCEALED] - s[0, _CONCEALED]) - (s[-1, _SILENT] - s[0, _SILENT])) / 48
        ),
    }
