// AudioPlayer front end: PCM16 24 kHz chunks from the kernel, scheduled back to back with
// Web Audio so joins are sample-exact (no gaps, no clicks); reports the played position.
//
// Messages (typed in player.py): kernel -> page {kind:"audio", stream, seq, kt} + one PCM16
// buffer, {kind:"clear"}, {kind:"end", stream} (no more audio for it). Page -> kernel {kind:"position",
// stream, played_ms, playing} every 100 ms while playing, {kind:"scheduled", stream, seq, t, kt, lead_ms} for
// the first chunk of a stream (lead_ms: from its arrival to its first sample playing), {kind:"cleared", ...} after a clear, {kind:"underrun", stream, seq, gap_ms,
// late_ms, kt, t} when a stream's queue ran dry before chunk `seq` (a gap in the middle of a response;
// late_ms: how far past the queue's end it came, kt: when the kernel sent it). One Playback per model
// (the factory below), shared by its views.

const RATE = 24000;
// The start rule (issue 13: the relay's own latency; issue 11: 0 underruns). The kernel gets the
// service's deltas faster than real time (the emulator: the first ~100 ms delta at once, the rest 4x
// real time), so a queue runs dry only when the kernel -> page path stalls (the comm on a busy machine:
// bench_playback.py). A stream starting after silence is therefore scheduled at once, to play `lead`
// after its first chunk came. The lead is what the page has seen: each later chunk's margin (queued
// audio ahead of the play head when it came) tells the lead that would have kept SAFETY_S + HEADROOM_S
// queued; the lead grows to that at once (up to MAX_LEAD_S, so a stall of seconds does not add seconds to
// every reply) and shrinks 10 % per stream towards what the last stream needed. It starts at MIN_LEAD_S
// (a render quantum, and the main thread and audio callback jitter), so while chunks come early a reply
// plays ~20 ms after its first delta (it was 73-86 ms with a 0.5 s start buffer). A late chunk in a
// stream restarts it `lead` ahead, and the margin is measured again from there.
const MIN_LEAD_S = 0.02;
const MAX_LEAD_S = 0.3;
const HEADROOM_S = 0.02; // a chunk this close to the queue running dry already grows the lead
const SHRINK = 0.9;
// Less queued than this counts as dry: a start time the audio thread has already passed would play
// late, overlapping the next chunk.
const SAFETY_S = 0.03;
const FADE_SAMPLES = 48; // 2 ms fade-in after silence, so a start or restart does not click
const REPORT_MS = 100;

function fadeIn(buffer) {
  const data = buffer.getChannelData(0);
  const n = Math.min(FADE_SAMPLES, data.length);
  for (let i = 0; i < n; i++) data[i] *= i / n;
}

function epochMs() {
  return performance.timeOrigin + performance.now();
}

class Playback {
  constructor(model) {
    this.model = model;
    this.ctx = null;
    this.streamId = null;
    this.streamGain = null;
    this.chunks = []; // {src, start, dur} not yet fully played
    this.playedDone = 0; // seconds of fully played chunks of the current stream
    // Where the queue ends, in frames of the context: chunks start on whole frames, so joins are
    // sample-exact (a start between two frames makes Web Audio interpolate, with a step at each join).
    this.nextFrame = 0;
    this.playing = false;
    this.underruns = 0; // gaps in the middle of a stream since the page loaded
    this.lead = MIN_LEAD_S; // seconds from a stream's first chunk coming to its first sample playing
    this.runLead = null; // the lead the current run (a start, or a restart after a late chunk) began with
    this.streamNeed = 0; // the most lead a chunk of the current stream asked for
    this.timer = null;
    this.listeners = new Set();
    this.onMsg = (msg, buffers) => {
      if (!msg) return;
      if (msg.kind === "audio") this.enqueue(msg, buffers[0]);
      else if (msg.kind === "clear") this.clear("clear");
      else if (msg.kind === "end" && msg.stream === this.streamId) this.finishStream();
    };
    model.on("msg:custom", this.onMsg);
    this.onVolume = () => this.applyVolume();
    model.on("change:volume", this.onVolume);
    model.on("change:muted", this.onVolume);
  }

  notify() {
    for (const fn of this.listeners) fn();
  }

  ensureContext() {
    if (!this.ctx) {
      try {
        this.ctx = new AudioContext({ sampleRate: RATE, latencyHint: "interactive" });
      } catch (_e) {
        this.ctx = new AudioContext({ latencyHint: "interactive" }); // buffers are resampled by Web Audio
      }
      this.master = this.ctx.createGain();
      this.analyser = this.ctx.createAnalyser();
      this.analyser.fftSize = 1024;
      this.master.connect(this.analyser);
      this.analyser.connect(this.ctx.destination);
      this.applyVolume();
      this.ctx.onstatechange = () => this.notify();
    }
    if (this.ctx.state === "suspended") this.ctx.resume().catch(() => {});
    return this.ctx;
  }

  applyVolume() {
    if (!this.master) return;
    const v = this.model.get("muted") ? 0 : this.model.get("volume");
    this.master.gain.setTargetAtTime(v, this.ctx.currentTime, 0.01);
  }

  // The stream's need is known (its "end", or the next stream began): the lead shrinks towards it.
  finishStream() {
    if (this.runLead === null) return;
    this.lead = Math.min(MAX_LEAD_S, Math.max(MIN_LEAD_S, this.streamNeed, this.lead * SHRINK));
    this.runLead = null;
  }

  // A chunk came with `margin` seconds queued ahead of the play head: the lead that would have left
  // SAFETY_S + HEADROOM_S. The lead grows to it at once.
  learn(margin) {
    const need = this.runLead - margin + SAFETY_S + HEADROOM_S;
    this.streamNeed = Math.max(this.streamNeed, need);
    this.lead = Math.min(MAX_LEAD_S, Math.max(this.lead, need));
  }

  newStream(id) {
    // A new item plays after what is already scheduled (a clear is what cuts playback).
    this.finishStream();
    this.streamNeed = 0;
    this.streamId = id;
    this.playedDone = 0;
    if (!this.streamGain) {
      this.streamGain = this.ctx.createGain();
      this.streamGain.connect(this.master);
    }
  }

  frameNow() {
    return Math.round(this.ctx.currentTime * this.ctx.sampleRate); // currentTime is on a quantum's first frame
  }

  enqueue(msg, view) {
    const ctx = this.ensureContext();
    if (msg.stream !== this.streamId) this.newStream(msg.stream);
    const pcm = new Int16Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
    if (!pcm.length) return;
    const buffer = ctx.createBuffer(1, pcm.length, RATE);
    const data = buffer.getChannelData(0);
    for (let i = 0; i < pcm.length; i++) data[i] = pcm[i] / 32768;
    const rate = ctx.sampleRate;
    const now = this.frameNow();
    let start = this.nextFrame;
    const margin = (start - now) / rate; // audio queued ahead of the play head
    const fresh = this.nextFrame === 0 || msg.seq === 0 || this.runLead === null;
    if (start < now + Math.round(SAFETY_S * rate)) {
      if (!fresh) this.learn(margin); // the chunk came late: the lead grows before the restart
      start = now + Math.round(this.lead * rate);
      if (!fresh) this.underrun(msg, (start - this.nextFrame) / rate, -margin);
      this.runLead = this.lead;
      fadeIn(buffer);
    } else if (fresh) {
      this.runLead = margin; // a stream queued behind the one playing: it waits that long already
    } else {
      this.learn(margin);
    }
    this.schedule(msg, buffer, start);
  }

  // Plays `buffer` from context frame `start`; returns the frame where it ends.
  schedule(msg, buffer, start) {
    const rate = this.ctx.sampleRate;
    const src = this.ctx.createBufferSource();
    src.buffer = buffer;
    src.connect(this.streamGain);
    src.start(start / rate);
    this.nextFrame = start + Math.round((buffer.length * rate) / RATE);
    this.chunks.push({ src, start: start / rate, dur: buffer.duration, stream: msg.stream });
    if (msg.seq === 0) {
      const leadMs = (1000 * (start - this.frameNow())) / rate; // from now (its arrival) to its first sample
      this.model.send({ kind: "scheduled", stream: msg.stream, seq: msg.seq, t: epochMs(), kt: msg.kt, lead_ms: leadMs });
    }
    this.setPlaying(true);
    return this.nextFrame;
  }

  // The queue ran dry in the middle of a stream: a gap the listener hears. Counted and reported (the
  // lead has already grown by as much as this chunk was late).
  underrun(msg, gapS, lateS) {
    this.underruns += 1;
    this.model.send({
      kind: "underrun",
      stream: msg.stream,
      seq: msg.seq,
      gap_ms: gapS * 1000,
      late_ms: lateS * 1000,
      kt: msg.kt,
      t: epochMs(),
    });
  }

  playedSeconds() {
    // Of the current stream only: the position `interrupt(played_ms)` truncates at.
    if (!this.ctx) return 0;
    const now = this.ctx.currentTime;
    let played = this.playedDone;
    const keep = [];
    for (const c of this.chunks) {
      const p = Math.min(Math.max(now - c.start, 0), c.dur);
      if (p >= c.dur) {
        if (c.stream === this.streamId) this.playedDone += c.dur;
      } else keep.push(c);
      if (c.stream === this.streamId) played += p;
    }
    this.chunks = keep;
    return played;
  }

  setPlaying(on) {
    if (on && !this.timer) {
      this.timer = setInterval(() => this.report(), REPORT_MS);
    }
    if (this.playing !== on) {
      this.playing = on;
      this.notify();
    }
  }

  report(kind = "position") {
    const played = this.playedSeconds();
    const still = this.chunks.length > 0;
    this.model.send({ kind, stream: this.streamId, played_ms: played * 1000, playing: still });
    if (!still) {
      clearInterval(this.timer);
      this.timer = null;
      this.setPlaying(false);
    }
    this.notify();
  }

  stopSources(fade) {
    if (!this.ctx || !this.streamGain) return;
    const now = this.ctx.currentTime;
    // A short ramp to silence, then stop: cutting a waveform mid-cycle would click.
    this.streamGain.gain.setTargetAtTime(0, now, fade);
    for (const c of this.chunks) {
      try {
        c.src.stop(now + fade * 6);
      } catch (_e) {
        // not started yet
      }
    }
    this.streamGain = null; // the next audio gets a fresh gain node at full level
  }

  clear(reason) {
    if (!this.ctx) {
      this.model.send({ kind: "cleared", stream: this.streamId, played_ms: 0, playing: false, reason });
      return;
    }
    const played = this.playedSeconds();
    this.runLead = null; // a cut stream says nothing about the lead it needed
    this.stopSources(0.003);
    this.chunks = [];
    this.playedDone = played;
    this.nextFrame = 0;
    this.model.send({ kind: "cleared", stream: this.streamId, played_ms: played * 1000, playing: false, reason });
    this.streamId = null;
    clearInterval(this.timer);
    this.timer = null;
    this.setPlaying(false);
  }

  level() {
    if (!this.analyser || !this.playing) return 0;
    const buf = new Float32Array(this.analyser.fftSize);
    this.analyser.getFloatTimeDomainData(buf);
    let s = 0;
    for (let i = 0; i < buf.length; i++) s += buf[i] * buf[i];
    return Math.sqrt(s / buf.length);
  }
}

function render({ model, el }, playback) {
  el.classList.add("rw-player");
  // "Speaker: playing", labelled apart from the microphone's state beside it.
  const state = document.createElement("span");
  state.className = "rw-player-state";
  const stateLabel = document.createElement("span");
  stateLabel.className = "rw-state-label";
  stateLabel.textContent = "Speaker: ";
  const stateValue = document.createElement("span");
  stateValue.className = "rw-state-value";
  state.append(stateLabel, stateValue);
  const mute = document.createElement("button");
  mute.type = "button";
  mute.className = "rw-mute";
  const volume = document.createElement("input");
  volume.type = "range";
  volume.min = "0";
  volume.max = "1";
  volume.step = "0.01";
  volume.setAttribute("aria-label", "Volume");
  const meter = document.createElement("div");
  meter.className = "rw-meter";
  meter.setAttribute("role", "meter");
  meter.setAttribute("aria-label", "Output level");
  const bar = document.createElement("div");
  bar.className = "rw-meter-bar";
  meter.appendChild(bar);
  const position = document.createElement("span");
  position.className = "rw-position";
  const enable = document.createElement("button");
  enable.type = "button";
  enable.className = "rw-enable-audio";
  enable.textContent = "Enable sound";
  enable.title = "The browser blocks sound until you click on the page";
  el.append(state, mute, volume, meter, position, enable);
  // Create the audio context now, not at the first delta: creating it costs tens of ms.
  playback.ensureContext();

  const update = () => {
    // Over WebRTC the call's audio plays beside this player: the one Speaker label tells of both.
    const call = model.get("call_playing") && !playback.playing;
    stateValue.textContent = playback.playing ? "playing" : call ? "playing the call" : "idle";
    state.dataset.state = playback.playing || call ? "playing" : "idle";
    position.title = `${playback.underruns} underrun(s) (gaps while playing) since the page loaded`;
    const muted = model.get("muted");
    mute.textContent = muted ? "Unmute" : "Mute";
    mute.setAttribute("aria-pressed", muted ? "true" : "false");
    volume.value = String(model.get("volume"));
    position.textContent = call ? "" : `${(model.get("played_ms") / 1000).toFixed(1)} s played`;
    enable.style.display = playback.ctx && playback.ctx.state === "suspended" ? "" : "none";
  };
  mute.addEventListener("click", () => {
    model.set("muted", !model.get("muted"));
    model.save_changes();
  });
  volume.addEventListener("input", () => {
    model.set("volume", Number(volume.value));
    model.save_changes();
  });
  enable.addEventListener("click", () => playback.ensureContext().resume().then(update));
  let raf = 0;
  const tick = () => {
    const level = Math.min(1, playback.level() * 4);
    bar.style.width = `${(level * 100).toFixed(1)}%`;
    raf = playback.playing ? requestAnimationFrame(tick) : 0;
  };
  const onChange = () => {
    update();
    if (playback.playing && !raf) raf = requestAnimationFrame(tick);
    if (!playback.playing) bar.style.width = "0%";
  };
  playback.listeners.add(onChange);
  for (const name of ["change:muted", "change:volume", "change:played_ms", "change:call_playing"]) model.on(name, update);
  update();
  return () => {
    playback.listeners.delete(onChange);
    for (const name of ["change:muted", "change:volume", "change:played_ms", "change:call_playing"]) model.off(name, update);
    if (raf) cancelAnimationFrame(raf);
  };
}

function initialize(model) {
  const playback = new Playback(model);
  // Browsers start audio suspended until a user gesture: any click on the page (Record!) resumes it.
  const resume = () => {
    if (playback.ctx && playback.ctx.state === "suspended") playback.ctx.resume().then(() => playback.notify());
  };
  document.addEventListener("pointerdown", resume, true);
  const dispose = () => {
    document.removeEventListener("pointerdown", resume, true);
    model.off("msg:custom", playback.onMsg);
    model.off("change:volume", playback.onVolume);
    model.off("change:muted", playback.onVolume);
    clearInterval(playback.timer);
    if (playback.ctx) playback.ctx.close();
  };
  return { playback, dispose };
}

// anywidget calls the factory once per model: its views share one Playback (they never play twice).
export default () => {
  let engine = null;
  return {
    initialize({ model }) {
      engine = initialize(model);
      return engine.dispose;
    },
    render(view) {
      return render(view, engine.playback);
    },
  };
};
