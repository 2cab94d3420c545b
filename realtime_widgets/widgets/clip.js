// ClipRecorder front end: the browser's MediaRecorder records one clip (webm/opus where the browser
// offers it); when it stops, the whole file goes to the kernel in one message, which decodes it.
// Loaded by anywidget only where a ClipRecorder is shown (ipywebrtc's JupyterLab extension, which
// loaded on every page and warned about its @jupyter-widgets/base range, is no longer needed).

const MIME_TYPES = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/webm", "audio/mp4"];

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
  return `Could not record: ${name || "Error"}: ${(err && err.message) || err}`;
}

function render({ model, el }) {
  el.classList.add("rw-clip");
  const button = document.createElement("button");
  button.className = "rw-clip-button";
  button.textContent = "● Record clip";
  const status = document.createElement("span");
  status.className = "rw-clip-status";
  status.setAttribute("aria-live", "polite");
  el.append(button, status);

  let recorder = null;
  let stream = null;
  let started = 0;
  let timer = null;

  const showStatus = () => {
    status.textContent = model.get("error") || model.get("message");
    status.classList.toggle("rw-clip-error", !!model.get("error"));
  };

  const release = () => {
    clearInterval(timer);
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    recorder = null;
    button.textContent = "● Record clip";
    button.classList.remove("rw-recording");
  };

  async function start() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      model.send({
        kind: "error",
        message: `The microphone needs a secure page (https:// or http://localhost); this page is ${location.origin}, so the browser hides the microphone.`,
      });
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, channelCount: 1 },
      });
    } catch (err) {
      model.send({ kind: "error", message: explain(err) });
      return;
    }
    const mimeType = MIME_TYPES.find((t) => window.MediaRecorder && MediaRecorder.isTypeSupported(t));
    recorder = new MediaRecorder(stream, mimeType ? { mimeType } : {});
    const parts = [];
    recorder.ondataavailable = (e) => {
      if (e.data && e.data.size) parts.push(e.data);
    };
    recorder.onstop = async () => {
      const type = recorder ? recorder.mimeType : mimeType || "";
      release();
      const blob = new Blob(parts, { type });
      const buffer = await blob.arrayBuffer();
      const seconds = (performance.now() - started) / 1000;
      model.send({ kind: "clip", mime: type, seconds }, undefined, [buffer]); // (content, callbacks, buffers)
    };
    recorder.start();
    started = performance.now();
    button.textContent = "■ Stop";
    button.classList.add("rw-recording");
    status.classList.remove("rw-clip-error");
    timer = setInterval(() => {
      status.textContent = `Recording… ${((performance.now() - started) / 1000).toFixed(1)} s`;
    }, 200);
  }

  button.addEventListener("click", () => {
    if (recorder && recorder.state === "recording") recorder.stop();
    else if (!recorder) start();
  });
  model.on("change:message", showStatus);
  model.on("change:error", showStatus);
  showStatus();

  return () => {
    model.off("change:message", showStatus);
    model.off("change:error", showStatus);
    if (recorder && recorder.state === "recording") {
      recorder.onstop = null;
      recorder.stop();
    }
    release();
  };
}

export default { render };
