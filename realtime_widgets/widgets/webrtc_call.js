// WebRTCCall front end: the page's own call to the service (microphone track out, model's track in).
//
// The kernel sends {kind: "dial", url, secret} with an ephemeral key (used for the one offer, never
// kept); the page answers {kind: "call", call_id} and {kind: "state", ...}. The model's audio plays
// through an <audio> element; a separate 24 kHz AudioContext taps both tracks with an AudioWorklet and
// sends 100 ms PCM16 chunks ({kind: "tap"}), so recording never sits in the playback path.
// The speaker's mute and volume (traits speaker_muted, volume) act on what the <audio> element plays:
// mute disables the played track, whose clone the output tap listens to, so the kernel still records.

const TAP_RATE = 24000;
const CHANNEL = "realtime-channel"; // Azure's sample's name; the service answers on whichever is opened
// After a barge-in (speech_started while the model speaks), this many quiet 100 ms chunks of the model's
// track put the speaking light out: a filtered channel never gets output_audio_buffer.cleared.
const QUIET_CHUNKS = 3;
const QUIET_PEAK = 328; // -40 dBFS in PCM16

// Cuts a track into PCM16 chunks at the context's rate (24 kHz), resampling linearly when the
// browser refused a 24 kHz context. Inlined as a Blob URL module: no extra static file to serve.
const WORKLET = `
class TapChunker extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions;
    this.step = sampleRate / o.outRate;
    this.chunk = o.chunkSamples;
    this.buf = new Int16Array(this.chunk);
    this.n = 0;
    this.t = 0;
    this.prev = 0;
    this.start = -1; // the context frame the call connected at: nothing is chunked before it
    this.port.onmessage = (e) => {
      this.start = e.data.start;
    };
  }
  push(x) {
    const s = x < -1 ? -1 : x > 1 ? 1 : x;
    this.buf[this.n++] = s < 0 ? s * 32768 : s * 32767;
    if (this.n === this.chunk) {
      this.port.postMessage(this.buf.buffer, [this.buf.buffer]);
      this.buf = new Int16Array(this.chunk);
      this.n = 0;
    }
  }
  process(inputs) {
    const x = inputs[0] && inputs[0][0];
    if (!x || this.start < 0 || currentFrame + x.length <= this.start) return true;
    if (this.step === 1) {
      for (let i = Math.max(0, this.start - currentFrame); i < x.length; i++) this.push(x[i]);
      return true;
    }
    let t = this.t;
    while (t <= x.length - 1) {
      const i = Math.floor(t);
      const a = i < 0 ? this.prev : x[i];
      const b = x[i + 1] === undefined ? a : x[i + 1];
      this.push(a + (b - a) * (t - i));
      t += this.step;
    }
    this.t = t - x.length;
    this.prev = x[x.length - 1];
    return true;
  }
}
registerProcessor("rw-tap-chunker", TapChunker);
`;

let workletUrl = null;
function getWorkletUrl() {
  if (!workletUrl) workletUrl = URL.createObjectURL(new Blob([WORKLET], { type: "text/javascript" }));
  return workletUrl;
}

function micError(err) {
  const name = err && err.name;
  if (name === "NotAllowedError" || name === "SecurityError") return "microphone permission was denied";
  if (name === "NotFoundError" || name === "OverconstrainedError") return "no microphone was found";
  if (name === "NotReadableError") return "the microphone is in use by another application";
  return `the microphone could not be opened (${name || "Error"}: ${(err && err.message) || err})`;
}

// One call engine per model, shared by all views of it: one peer connection, one microphone.
class CallEngine {
  constructor(model) {
    this.model = model;
    this.pc = null;
    this.mic = null;
    this.audio = null;
    this.remote = null;
    this.taps = null;
    this.iceTimer = null;
    this.attempt = 0;
    this.listeners = new Set();
    this.bargeIn = false; // speech_started came while the model spoke: watch its track go quiet
    this.quietChunks = 0;
    this.onSpeaker = () => this.applySpeaker();
    model.on("change:speaker_muted", this.onSpeaker);
    model.on("change:volume", this.onSpeaker);
    this.onMessage = (msg) => {
      if (!msg) return;
      if (msg.kind === "dial") this.dial(msg.url, msg.secret);
      else if (msg.kind === "hangup") this.hangup("hung up");
      else if (msg.kind === "mute") this.setMuted(!!msg.muted);
    };
    model.on("msg:custom", this.onMessage);
  }

  notify() {
    for (const fn of this.listeners) fn();
  }

  report(state, reason = "") {
    this.model.set("state", state);
    this.model.set("reason", reason);
    this.model.save_changes();
    this.model.send({ kind: "state", state, reason });
    this.notify();
  }

  setMuted(muted) {
    if (this.mic) for (const track of this.mic.getAudioTracks()) track.enabled = !muted;
    this.model.set("muted", muted);
    this.model.save_changes();
    this.notify();
  }

  async dial(url, secret) {
    this.release();
    const attempt = ++this.attempt;
    const current = () => attempt === this.attempt;
    this.report("dialing");
    try {
      if (!window.isSecureContext || !navigator.mediaDevices) {
        throw new CallFailure(`the page is not secure (${location.origin}), so the browser hides the microphone`);
      }
      try {
        this.mic = await navigator.mediaDevices.getUserMedia({
          audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
        });
      } catch (err) {
        throw new CallFailure(micError(err));
      }
      if (!current()) return this.releaseMic();
      this.prepareTaps();
      const pc = new RTCPeerConnection();
      this.pc = pc;
      const track = this.mic.getAudioTracks()[0];
      track.enabled = !this.model.get("muted");
      pc.addTrack(track, this.mic);
      pc.ontrack = (e) => this.play(new MediaStream([e.track]));
      pc.onconnectionstatechange = () => this.onConnectionState(pc);
      const channel = pc.createDataChannel(CHANNEL);
      channel.onmessage = (e) => this.onServiceEvent(e.data);
      await pc.setLocalDescription(await pc.createOffer());
      let reply;
      try {
        reply = await fetch(url, {
          method: "POST",
          body: pc.localDescription.sdp,
          headers: { Authorization: `Bearer ${secret}`, "Content-Type": "application/sdp" },
        });
      } catch (err) {
        throw new CallFailure(`the service could not be reached (${err.message || err})`);
      }
      const body = await reply.text();
      if (!current()) return;
      if (!reply.ok) throw new CallFailure(`the service refused the offer: ${reply.status} ${serviceMessage(body)}`);
      const location_ = reply.headers.get("Location") || "";
      this.model.send({ kind: "call", call_id: location_.split("/").pop() });
      await pc.setRemoteDescription({ type: "answer", sdp: body });
      const timeoutMs = this.model.get("ice_timeout_ms");
      this.iceTimer = setTimeout(() => {
        if (current() && pc.connectionState !== "connected") {
          this.fail(`no network path to the service within ${timeoutMs / 1000} s (ICE did not connect; UDP may be blocked)`);
        }
      }, timeoutMs);
    } catch (err) {
      if (current()) this.fail(err instanceof CallFailure ? err.message : `${err.name || "Error"}: ${err.message || err}`);
    }
  }

  onConnectionState(pc) {
    if (pc !== this.pc) return;
    const s = pc.connectionState;
    if (s === "connected") {
      clearTimeout(this.iceTimer);
      // The taps start with the media: the service's input clock starts with the first audio it gets.
      this.startTaps(performance.now());
      this.report("connected");
    } else if (s === "failed") {
      this.fail("the connection failed (ICE found no working path to the service)");
    } else if (s === "closed" || (s === "disconnected" && this.model.get("state") === "connected")) {
      this.release();
      this.report("closed", "the service ended the call");
    }
  }

  onServiceEvent(data) {
    let type = "";
    try {
      type = JSON.parse(data).type || "";
    } catch (_e) {
      return;
    }
    // The service's own word on what plays: the speaking light follows it. A filtered channel has no
    // `cleared`: after a barge-in the light goes out when the track itself goes quiet (outputQuiet).
    if (type === "output_audio_buffer.started") {
      this.bargeIn = false;
      this.setSpeaking(true);
    } else if (type === "output_audio_buffer.stopped" || type === "output_audio_buffer.cleared") {
      this.bargeIn = false;
      this.setSpeaking(false);
    } else if (type === "input_audio_buffer.speech_started" && this.model.get("speaking")) {
      this.bargeIn = true;
      this.quietChunks = 0;
    }
  }

  // One tapped 100 ms chunk of the model's track: after a barge-in, QUIET_CHUNKS quiet ones end "speaking".
  outputQuiet(pcm) {
    if (!this.bargeIn) return;
    let peak = 0;
    for (let i = 0; i < pcm.length; i++) {
      const a = pcm[i] < 0 ? -pcm[i] : pcm[i];
      if (a > peak) peak = a;
    }
    this.quietChunks = peak < QUIET_PEAK ? this.quietChunks + 1 : 0;
    if (this.quietChunks >= QUIET_CHUNKS) {
      this.bargeIn = false;
      this.setSpeaking(false);
    }
  }

  setSpeaking(speaking) {
    this.model.set("speaking", speaking);
    this.model.save_changes();
    this.notify();
  }

  fail(reason) {
    this.release();
    this.report("failed", reason);
  }

  hangup(reason) {
    const wasLive = !!this.pc;
    this.attempt++;
    this.release();
    if (wasLive || this.model.get("state") === "dialing") this.report("closed", reason);
  }

  // The model's audio: an <audio> element plays it (Chromium also needs one for WebAudio to get
  // a remote track's samples, and its echo cancellation knows what the element plays); the taps
  // listen to a clone on their own context, so muting the speaker does not mute the recording.
  play(stream) {
    if (!this.audio) {
      this.audio = new Audio();
      this.audio.autoplay = true;
    }
    this.played = stream;
    this.applySpeaker();
    this.audio.srcObject = stream;
    this.audio.play().catch(() => {});
    this.remote = new MediaStream(stream.getAudioTracks().map((t) => t.clone()));
    const taps = this.taps;
    if (taps) taps.ready.then(() => this.taps === taps && !taps.ports.output && this.tapSide(taps, "output", this.remote));
  }

  applySpeaker() {
    const muted = !!this.model.get("speaker_muted");
    if (this.played) for (const track of this.played.getAudioTracks()) track.enabled = !muted;
    if (this.audio) this.audio.volume = Math.max(0, Math.min(1, Number(this.model.get("volume"))));
  }

  // The tap context, its worklet and the microphone's node are made while dialling (they take tens of
  // ms); at "connected" both nodes are told the context frame of that moment and chunk from it, so the
  // tapped microphone's first sample is the service's first (its input clock), within a render quantum.
  prepareTaps() {
    if (this.taps || !this.mic) return;
    const taps = { ctx: null, nodes: [], ports: {}, seq: { input: 0, output: 0 }, startFrame: -1 };
    this.taps = taps;
    taps.ready = (async () => {
      try {
        taps.ctx = new AudioContext({ sampleRate: TAP_RATE, latencyHint: "playback" });
      } catch (_e) {
        taps.ctx = new AudioContext({ latencyHint: "playback" });
      }
      if (taps.ctx.state === "suspended") await taps.ctx.resume();
      await taps.ctx.audioWorklet.addModule(getWorkletUrl());
      if (this.taps !== taps) return;
      this.tapSide(taps, "input", this.mic);
      if (this.remote) this.tapSide(taps, "output", this.remote);
    })().catch((err) => {
      if (this.taps !== taps) return; // the call ended while the taps were starting (its reason stands)
      // Playback goes on without the taps; the kernel then has no audio of this call to show.
      this.model.set("reason", `the audio taps could not start: ${err.message || err}`);
      this.model.save_changes();
    });
  }

  tapSide(taps, side, stream) {
    const chunkSamples = Math.round((TAP_RATE * this.model.get("tap_ms")) / 1000);
    const source = taps.ctx.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(taps.ctx, "rw-tap-chunker", {
      numberOfInputs: 1,
      numberOfOutputs: 0,
      channelCount: 1,
      channelCountMode: "explicit",
      processorOptions: { outRate: TAP_RATE, chunkSamples },
    });
    node.port.onmessage = (e) => {
      if (this.taps !== taps) return;
      if (side === "output") this.outputQuiet(new Int16Array(e.data));
      this.model.send({ kind: "tap", side, seq: taps.seq[side]++, t: performance.timeOrigin + performance.now() }, undefined, [e.data]);
    };
    source.connect(node);
    taps.nodes.push(source, node);
    taps.ports[side] = node.port;
    if (taps.startFrame >= 0) node.port.postMessage({ start: taps.startFrame });
  }

  // `connectedAt` (performance.now()) as a frame of the tap context: where both taps begin.
  async startTaps(connectedAt) {
    const taps = this.taps;
    if (!taps) return;
    await taps.ready;
    if (this.taps !== taps || !taps.ctx) return;
    const lateS = (performance.now() - connectedAt) / 1000; // the context was still starting
    taps.startFrame = Math.max(0, Math.round((taps.ctx.currentTime - lateS) * taps.ctx.sampleRate));
    for (const port of Object.values(taps.ports)) port.postMessage({ start: taps.startFrame });
  }

  releaseMic() {
    if (this.mic) for (const track of this.mic.getTracks()) track.stop();
    this.mic = null;
  }

  release(quiet = false) {
    clearTimeout(this.iceTimer);
    if (this.taps) {
      for (const node of this.taps.nodes) node.disconnect();
      if (this.taps.ctx) this.taps.ctx.close().catch(() => {});
      this.taps = null;
    }
    if (this.pc) {
      this.pc.onconnectionstatechange = null;
      this.pc.close();
      this.pc = null;
    }
    if (this.audio) {
      this.audio.srcObject = null;
      this.audio = null;
    }
    if (this.remote) for (const track of this.remote.getTracks()) track.stop();
    this.remote = null;
    this.played = null;
    this.bargeIn = false;
    this.releaseMic();
    if (!quiet && this.model.get("speaking")) this.setSpeaking(false);
  }
}

class CallFailure extends Error {}

function serviceMessage(body) {
  try {
    const parsed = JSON.parse(body);
    return (parsed.error && parsed.error.message) || body.slice(0, 200);
  } catch (_e) {
    return body.slice(0, 200);
  }
}

const STATE_WORDS = { idle: "not dialled", dialing: "dialling…", connected: "connected", failed: "failed", closed: "ended" };

function render({ model, el }, engine) {
  el.classList.add("rw-call");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "rw-record-button";
  const state = document.createElement("span");
  state.className = "rw-call-state";
  const speaking = document.createElement("span");
  speaking.className = "rw-call-speaking";
  const reason = document.createElement("div");
  reason.className = "rw-call-reason";
  reason.setAttribute("role", "alert");
  el.append(button, state, speaking, reason);

  const update = () => {
    const s = model.get("state");
    const live = s === "connected";
    const recording = live && !model.get("muted");
    button.textContent = recording ? "Stop" : "Record";
    button.setAttribute("aria-pressed", recording ? "true" : "false");
    button.classList.toggle("rw-recording", recording);
    button.disabled = !live || model.get("disabled");
    button.title = live ? (recording ? "Mute the microphone" : "Unmute the microphone") : "The call is not connected";
    state.textContent = `WebRTC call: ${STATE_WORDS[s] || s}`;
    state.dataset.state = s;
    speaking.textContent = model.get("speaking") ? "Model: speaking" : "";
    const why = model.get("reason");
    reason.textContent = why;
    reason.style.display = why ? "" : "none";
    reason.dataset.kind = s === "failed" ? "error" : "info";
  };
  const onClick = () => {
    if (model.get("state") === "connected") engine.setMuted(!model.get("muted"));
  };
  button.addEventListener("click", onClick);
  engine.listeners.add(update);
  const traits = ["change:state", "change:reason", "change:muted", "change:speaking", "change:disabled"];
  for (const t of traits) model.on(t, update);
  update();
  return () => {
    button.removeEventListener("click", onClick);
    engine.listeners.delete(update);
    for (const t of traits) model.off(t, update);
  };
}

// anywidget calls this factory once per model: the engine lives in its closure and hangs up when
// the model goes away (the notebook closed, the widget closed).
export default () => {
  let engine = null;
  return {
    initialize({ model }) {
      engine = new CallEngine(model);
      if (!model.get("in_browser")) {
        model.set("in_browser", true);
        model.save_changes();
      }
      return () => {
        engine.attempt++;
        engine.release(true); // the model is going away: nothing to tell it
        model.off("msg:custom", engine.onMessage);
        model.off("change:speaker_muted", engine.onSpeaker);
        model.off("change:volume", engine.onSpeaker);
      };
    },
    render(view) {
      return render(view, engine);
    },
  };
};
