// MicRecorder front end: getUserMedia -> AudioWorklet -> PCM16 @ 24 kHz chunks -> kernel.
//
// Chunks carry a sequence number; the kernel acknowledges them. At most `max_in_flight`
// chunks are unacknowledged: while the kernel is busy the rest wait here (backpressure)
// and the widget says so, instead of audio being lost silently.

const OUT_RATE = 24000;
const MAX_BACKLOG_S = 60; // beyond this the oldest audio is dropped, and the widget says so

// The worklet: resample to 24 kHz when the context cannot run at 24 kHz, cut into chunks,
// convert to int16. Inlined as a Blob URL module so no extra static file needs serving.
const WORKLET = `
// Low-pass FIR (Blackman-windowed sinc) at 0.46 x the output rate: without it, what the
// microphone hears above 12 kHz would fold back into the speech band when decimating.
function lowPass(inRate, outRate, taps) {
  const fc = (0.46 * outRate) / inRate; // cycles per input sample
  const m = (taps - 1) / 2;
  const h = new Float32Array(taps);
  let sum = 0;
  for (let k = 0; k < taps; k++) {
    const x = k - m;
    const sinc = x === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * x) / (Math.PI * x);
    const w = 0.42 - 0.5 * Math.cos((2 * Math.PI * k) / (taps - 1)) + 0.08 * Math.cos((4 * Math.PI * k) / (taps - 1));
    h[k] = sinc * w;
    sum += h[k];
  }
  for (let k = 0; k < taps; k++) h[k] /= sum;
  return h;
}

class PcmChunker extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions;
    this.ratio = sampleRate / o.outRate; // input samples per output sample
    this.fir = this.ratio > 1 ? lowPass(sampleRate, o.outRate, 63) : null;
    this.tail = this.fir ? new Float32Array(this.fir.length - 1) : null; // previous inputs
    this.chunk = o.chunkSamples;
    this.buf = new Int16Array(this.chunk);
    this.n = 0;
    this.sumsq = 0;
    this.t = 0; // position of the next output sample, in input samples of the current block
    this.prev = 0; // last input sample of the previous block (index -1)
    this.port.onmessage = (e) => {
      if (e.data === "flush") {
        this.emit(true);
        this.port.postMessage({ flushed: true });
      }
    };
  }
  push(x) {
    const s = x < -1 ? -1 : x > 1 ? 1 : x;
    this.sumsq += s * s;
    this.buf[this.n++] = s < 0 ? s * 32768 : s * 32767;
    if (this.n === this.chunk) this.emit(false);
  }
  emit(partial) {
    if (this.n === 0) return;
    const pcm = partial ? this.buf.slice(0, this.n) : this.buf;
    const level = Math.sqrt(this.sumsq / this.n);
    this.port.postMessage({ pcm: pcm.buffer, level }, [pcm.buffer]);
    this.buf = new Int16Array(this.chunk);
    this.n = 0;
    this.sumsq = 0;
  }
  filter(x) {
    const h = this.fir;
    const n = h.length;
    const L = x.length;
    if (!this.work || this.work.length !== n - 1 + L) {
      this.work = new Float32Array(n - 1 + L);
      this.filtered = new Float32Array(L);
    }
    const w = this.work;
    w.set(this.tail, 0);
    w.set(x, n - 1);
    for (let i = 0; i < L; i++) {
      let acc = 0;
      for (let k = 0; k < n; k++) acc += h[k] * w[i + k];
      this.filtered[i] = acc;
    }
    this.tail.set(w.subarray(L));
    return this.filtered;
  }
  process(inputs) {
    const input = inputs[0] && inputs[0][0];
    if (!input) return true;
    const ch = this.fir ? this.filter(input) : input;
    const L = ch.length;
    if (this.ratio === 1) {
      for (let i = 0; i < L; i++) this.push(ch[i]);
      return true;
    }
    // Linear interpolation of the low-passed input; only when the browser refuses a 24 kHz context.
    let t = this.t;
    while (t <= L - 1) {
      const i = Math.floor(t);
      const f = t - i;
      const a = i < 0 ? this.prev : ch[i];
      const b = f === 0 ? a : ch[i + 1];
      this.push(a + (b - a) * f);
      t += this.ratio;
    }
    this.t = t - L;
    this.prev = ch[L - 1];
    return true;
  }
}
registerProcessor("rw-pcm-chunker", PcmChunker);
`;

let workletUrl = null;
function getWorkletUrl() {
  if (!workletUrl) {
    workletUrl = URL.createObjectURL(new Blob([WORKLET], { type: "text/javascript" }));
  }
  return workletUrl;
}

function epochMs() {
  return performance.timeOrigin + performance.now();
}

function explain(err) {
  const name = err && err.name;
  if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") {
    return "Microphone permission was denied. Allow the microphone for this site (the icon in the address bar), then press Record again.";
  }
  if (name === "NotFoundError" || name === "DevicesNotFoundError" || name === "OverconstrainedError") {
    return "No microphone was found. Connect a microphone (or choose one in the system settings), then press Record again.";
  }
  if (name === "NotReadableError" || name === "TrackStartError") {
    return "The microphone could not be opened: another application may be using it.";
  }
  return `Could not start the microphone: ${name || "Error"}: ${(err && err.message) || err}`;
}

// The capture graph: microphone -> worklet. A 24 kHz context lets the browser resample; some
// browsers refuse one (the constructor throws) or refuse to connect a microphone running at
// another rate to it (Firefox), so the device's own rate is the fallback and the worklet resamples.
async function openGraph(media, chunkSamples) {
  for (const sampleRate of [OUT_RATE, undefined]) {
    let ctx = null;
    try {
      ctx = new AudioContext(sampleRate ? { sampleRate, latencyHint: "interactive" } : { latencyHint: "interactive" });
      if (ctx.state === "suspended") await ctx.resume();
      await ctx.audioWorklet.addModule(getWorkletUrl());
      const source = ctx.createMediaStreamSource(media);
      const node = new AudioWorkletNode(ctx, "rw-pcm-chunker", {
        numberOfInputs: 1,
        numberOfOutputs: 0,
        channelCount: 1,
        channelCountMode: "explicit",
        processorOptions: { outRate: OUT_RATE, chunkSamples },
      });
      source.connect(node);
      return { ctx, source, node };
    } catch (err) {
      if (ctx) ctx.close().catch(() => {});
      if (!sampleRate) throw err;
    }
  }
}

// One capture engine per model, shared by all views of it (two views must not open two mics).
class Capture {
  constructor(model) {
    this.model = model;
    this.active = false;
    this.starting = false;
    this.stream = 0;
    this.seq = 0;
    this.inFlight = 0; // sent, not yet acknowledged
    this.lastAcked = -1;
    this.backlog = [];
    this.dropped = 0;
    this.level = 0;
    this.lastLevelSync = 0;
    this.listeners = new Set();
    this.onAck = (msg) => {
      if (!msg || msg.kind !== "ack" || msg.stream !== this.stream) return;
      if (msg.seq > this.lastAcked) {
        this.inFlight -= msg.seq - this.lastAcked; // acks are cumulative
        this.lastAcked = msg.seq;
        if (this.inFlight < 0) this.inFlight = 0;
      }
      this.drain();
    };
    model.on("msg:custom", this.onAck);
    this.onRecordingTrait = () => {
      // Python may ask to start/stop by setting `recording`.
      const want = model.get("recording");
      if (want && !this.active && !this.starting) this.start();
      else if (!want && this.active) this.stop();
    };
    model.on("change:recording", this.onRecordingTrait);
  }

  notify() {
    for (const fn of this.listeners) fn();
  }

  setError(text) {
    this.model.set("error", text);
    this.model.save_changes();
    this.notify();
  }

  setStatus(status, recording) {
    this.model.set("status", status);
    if (recording !== undefined) this.model.set("recording", recording);
    this.model.save_changes();
    this.notify();
  }

  async start() {
    if (this.active || this.starting) return;
    this.starting = true;
    this.notify();
    try {
      if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        throw {
          name: "InsecureContext",
          message: "",
          text: `The microphone needs a secure page (https:// or http://localhost); this page is ${location.origin}, so the browser hides the microphone. Open Jupyter over https or through localhost.`,
        };
      }
      if (typeof AudioWorkletNode === "undefined") {
        throw { name: "NoWorklet", text: "This browser has no AudioWorklet support; use a current Chromium, Firefox or Safari." };
      }
      this.setStatus("requesting microphone");
      const m = this.model;
      this.media = await navigator.mediaDevices.getUserMedia({
        audio: {
          channelCount: 1,
          echoCancellation: m.get("echo_cancellation"),
          noiseSuppression: m.get("noise_suppression"),
          autoGainControl: m.get("auto_gain_control"),
        },
      });
      const chunkSamples = Math.round((OUT_RATE * m.get("chunk_ms")) / 1000);
      ({ ctx: this.ctx, source: this.source, node: this.node } = await openGraph(this.media, chunkSamples));
      this.node.port.onmessage = (e) => this.onChunk(e.data);
      this.stream = Math.floor(Math.random() * 2 ** 31);
      this.seq = 0;
      this.inFlight = 0;
      this.lastAcked = -1;
      this.backlog = [];
      this.dropped = 0;
      this.active = true;
      this.model.send({ kind: "start", stream: this.stream, rate: OUT_RATE, context_rate: this.ctx.sampleRate });
      this.model.set("error", "");
      this.setStatus("recording", true);
    } catch (err) {
      this.release();
      this.setError(err && err.text ? err.text : explain(err));
      this.setStatus("error", false);
    } finally {
      this.starting = false;
      this.notify();
      if (this.stopRequested && this.active) this.stop();
      this.stopRequested = false;
    }
  }

  onChunk(data) {
    if (data.flushed) {
      if (this.onFlushed) this.onFlushed();
      return;
    }
    this.level = data.level;
    const chunk = { seq: this.seq++, pcm: data.pcm, t: epochMs(), level: data.level };
    this.backlog.push(chunk);
    const maxChunks = Math.ceil((MAX_BACKLOG_S * 1000) / this.model.get("chunk_ms"));
    if (this.backlog.length > maxChunks) {
      this.backlog.shift();
      this.dropped += 1;
      this.setError(
        `The kernel has not taken audio for ${MAX_BACKLOG_S} s (is a cell still running?): ${this.dropped} chunks were dropped.`,
      );
    }
    this.drain();
    this.notify();
  }

  drain() {
    const window_ = Math.max(1, this.model.get("max_in_flight"));
    while (this.backlog.length && this.inFlight < window_) {
      const c = this.backlog.shift();
      this.inFlight += 1;
      this.model.send(
        { kind: "chunk", stream: this.stream, seq: c.seq, t: c.t, level: c.level },
        undefined,
        [c.pcm],
      );
    }
    const waiting = this.backlog.length;
    const status = waiting ? `kernel busy: ${((waiting * this.model.get("chunk_ms")) / 1000).toFixed(1)} s waiting` : "recording";
    if (this.active && this.model.get("status") !== status) this.setStatus(status);
  }

  async stop() {
    if (this.starting) this.stopRequested = true;
    if (!this.active) return;
    this.active = false;
    // Flush the partial chunk so the end of the utterance is not lost.
    if (this.node) {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, 500);
        this.onFlushed = () => {
          clearTimeout(timer);
          resolve();
        };
        this.node.port.postMessage("flush");
      });
      this.onFlushed = null;
    }
    this.release();
    this.level = 0;
    this.model.send({ kind: "stop", stream: this.stream, last_seq: this.seq - 1 });
    this.setStatus("idle", false);
  }

  release() {
    try {
      if (this.source) this.source.disconnect();
      if (this.node) this.node.port.onmessage = null;
      if (this.media) for (const tr of this.media.getTracks()) tr.stop();
      if (this.ctx) this.ctx.close();
    } catch (_e) {
      // closing twice is harmless
    }
    this.source = this.node = this.media = this.ctx = null;
  }
}

function render({ model, el }, capture) {
  // Tells notebooks a person can record here (headless runs feed recorded audio instead).
  if (!model.get("in_browser")) {
    model.set("in_browser", true);
    model.save_changes();
  }
  el.classList.add("rw-recorder");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "rw-record-button";
  const meter = document.createElement("div");
  meter.className = "rw-meter";
  meter.setAttribute("role", "meter");
  meter.setAttribute("aria-label", "Microphone level");
  meter.setAttribute("aria-valuemin", "0");
  meter.setAttribute("aria-valuemax", "1");
  const bar = document.createElement("div");
  bar.className = "rw-meter-bar";
  meter.appendChild(bar);
  // "Microphone: idle", labelled on its own so it never runs into the player's state beside it.
  const status = document.createElement("span");
  status.className = "rw-status";
  const statusLabel = document.createElement("span");
  statusLabel.className = "rw-state-label";
  statusLabel.textContent = "Microphone: ";
  const statusValue = document.createElement("span");
  statusValue.className = "rw-state-value";
  status.append(statusLabel, statusValue);
  const error = document.createElement("div");
  error.className = "rw-error";
  error.setAttribute("role", "alert");
  el.append(button, meter, status, error);

  const update = () => {
    const recording = capture.active;
    const push = model.get("mode") === "push";
    button.textContent = recording ? "Stop" : "Record";
    button.setAttribute("aria-pressed", recording ? "true" : "false");
    button.title = push ? "Hold to talk (or hold Space)" : recording ? "Stop recording" : "Start recording";
    const off = model.get("disabled") && !recording;
    button.disabled = capture.starting || off;
    if (off) button.title = "Not connected: nothing to record into";
    button.classList.toggle("rw-recording", recording);
    const level = recording ? Math.min(1, capture.level * 4) : 0; // speech RMS is ~0.05-0.25
    bar.style.width = `${(level * 100).toFixed(1)}%`;
    meter.setAttribute("aria-valuenow", level.toFixed(2));
    statusValue.textContent = off ? "off" : model.get("status");
    status.dataset.state = recording ? "recording" : model.get("status");
    error.textContent = model.get("error");
    error.style.display = model.get("error") ? "" : "none";
  };
  capture.listeners.add(update);
  model.on("change:status", update);
  model.on("change:error", update);
  model.on("change:mode", update);
  const onDisabled = () => {
    if (model.get("disabled") && capture.active) capture.stop(); // closed while recording
    update();
  };
  model.on("change:disabled", onDisabled);

  // Toggle: click. Push-to-talk: hold the button (pointer or Space / Enter).
  const onClick = () => {
    if (model.get("mode") !== "toggle" || (model.get("disabled") && !capture.active)) return;
    if (capture.active) capture.stop();
    else capture.start();
  };
  const onDown = (e) => {
    if (model.get("mode") !== "push" || (e.type === "keydown" && e.key !== " " && e.key !== "Enter")) return;
    if (model.get("disabled")) return;
    e.preventDefault();
    if (!capture.active) capture.start();
  };
  const onUp = (e) => {
    if (model.get("mode") !== "push" || (e.type === "keyup" && e.key !== " " && e.key !== "Enter")) return;
    // A release during the permission prompt stops as soon as recording has started.
    if (capture.starting) capture.stopRequested = true;
    else if (capture.active) capture.stop();
  };
  button.addEventListener("click", onClick);
  button.addEventListener("pointerdown", onDown);
  button.addEventListener("keydown", onDown);
  for (const ev of ["pointerup", "pointerleave", "pointercancel", "keyup"]) button.addEventListener(ev, onUp);
  update();
  return () => {
    capture.listeners.delete(update);
    model.off("change:status", update);
    model.off("change:error", update);
    model.off("change:mode", update);
    model.off("change:disabled", onDisabled);
  };
}

// anywidget calls this factory once per model: the capture engine lives in its closure, shared by
// every view of the model, and is stopped when the model goes away.
export default () => {
  let capture = null;
  return {
    initialize({ model }) {
      capture = new Capture(model);
      return () => {
        capture.stop();
        model.off("msg:custom", capture.onAck);
        model.off("change:recording", capture.onRecordingTrait);
      };
    },
    render(view) {
      return render(view, capture);
    },
  };
};
