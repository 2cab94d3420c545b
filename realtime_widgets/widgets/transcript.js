// TranscriptView front end: one block per turn, user row then assistant row.
// Rows carry data-role="user"|"assistant" and role="listitem" for tests and screen readers.
// An interrupted turn shows the words heard, then the rest struck through as "not played".
// Under each assistant row, the turn's tokens (and cost); a footer holds the running total.

// JupyterLab marks the theme on <body>; elsewhere the background's lightness decides.
function pageTheme(node) {
  const light = document.body.dataset.jpThemeLight;
  if (light === "true" || light === "false") return light === "true" ? "light" : "dark";
  for (let e = node; e; e = e.parentElement) {
    const m = getComputedStyle(e).backgroundColor.match(/rgba?\(([\d.]+), ([\d.]+), ([\d.]+)(?:, ([\d.]+))?/);
    if (m && (m[4] === undefined || Number(m[4]) > 0)) {
      return 0.299 * m[1] + 0.587 * m[2] + 0.114 * m[3] < 128 ? "dark" : "light";
    }
  }
  return "light";
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function render({ model, el: root }) {
  root.classList.add("rw-transcript");
  root.setAttribute("role", "list");
  root.setAttribute("aria-label", "Transcript");
  const empty = el("div", "rw-tr-empty", "No turns yet.");
  const total = el("div", "rw-tr-total");
  total.setAttribute("aria-label", "Running total of tokens and cost");
  total.hidden = true;
  root.append(empty, total);
  const blocks = new Map(); // turn index -> element
  let audioCtx = null;

  function msgRow(role, index) {
    const row = el("div", "rw-tr-msg");
    row.dataset.role = role;
    row.dataset.turn = String(index);
    row.setAttribute("role", "listitem");
    row.setAttribute("aria-label", `${role} turn ${index + 1}`);
    // who | main: the text, then the actions (which wrap under the text when it is long)
    const body = el("div", "rw-tr-body");
    body.append(el("span", "rw-tr-text"));
    const main = el("div", "rw-tr-main");
    main.append(body);
    row.append(el("span", "rw-tr-who", role === "user" ? "You" : "Assistant"), main);
    return row;
  }

  function button(label, onClick) {
    const b = el("button", "rw-tr-btn", label);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  function fill(block, s) {
    const [userRow, asstRow] = block.rows;
    userRow.hidden = !s.user;
    const utext = userRow.querySelector(".rw-tr-text");
    utext.textContent = s.user;
    utext.classList.toggle("rw-tr-pending", s.user_pending);
    const umeta = block.userMeta;
    umeta.textContent = s.user_audio_s ? `${s.user_audio_s} s` : "";

    const atext = asstRow.querySelector(".rw-tr-text");
    const waiting = !s.assistant && (s.status === "pending" || s.status === "in_progress");
    atext.textContent = "";
    if (s.unheard) {
      // Heard words as usual, then what was generated but never played, struck and labelled.
      const unheard = el("del", "rw-tr-unheard", s.unheard);
      unheard.title = "generated but not played: playback was interrupted";
      atext.append(
        el("span", "rw-tr-heard", s.heard),
        s.heard ? " " : "",
        unheard,
        el("span", "rw-tr-unheard-label", "not played"),
      );
    } else {
      atext.textContent = s.assistant || (waiting ? "…" : "");
    }
    atext.classList.toggle("rw-tr-pending", waiting);
    block.mark.textContent = s.interrupted;
    block.mark.hidden = !s.interrupted;
    if (s.error && !block.error) {
      block.error = el("div", "rw-tr-error"); // present only while the turn has an error
      asstRow.querySelector(".rw-tr-body").append(block.error);
    }
    if (block.error && s.error) block.error.textContent = s.error;
    else if (block.error) {
      block.error.remove();
      block.error = null;
    }
    const meta = [];
    if (s.latency) meta.push(`first audio ${s.latency}`);
    if (s.latency_done) meta.push(`done ${s.latency_done}`);
    if (s.audio_s) meta.push(`${s.audio_s} s audio`);
    if (s.underruns) meta.push(`${s.underruns} underrun${s.underruns > 1 ? "s" : ""}`);
    if (s.status && s.status !== "completed") meta.push(s.status);
    block.meta.textContent = meta.join(" · ");
    block.usage.textContent = s.usage || "";
    block.usage.hidden = !s.usage;
    block.play.disabled = !s.audio_s;
    block.playUser.hidden = !s.user_audio_s;
    asstRow.dataset.status = s.status;
  }

  function ensure(s) {
    let block = blocks.get(s.index);
    if (block) return block;
    const div = el("div", "rw-tr-turn");
    div.dataset.turn = String(s.index);
    const userRow = msgRow("user", s.index);
    const asstRow = msgRow("assistant", s.index);
    const userMeta = el("span", "rw-tr-meta");
    const playUser = button("▶", () => model.send({ kind: "play", index: s.index, side: "user" }));
    playUser.setAttribute("aria-label", `Play your turn ${s.index + 1}`);
    const userActions = el("span", "rw-tr-actions");
    userActions.append(userMeta, playUser);
    userRow.querySelector(".rw-tr-main").append(userActions);
    const mark = el("span", "rw-tr-mark");
    mark.hidden = true;
    const usage = el("div", "rw-tr-usage");
    usage.hidden = true;
    asstRow.querySelector(".rw-tr-body").append(mark, usage);
    const meta = el("span", "rw-tr-meta");
    const play = button("▶ play", () => model.send({ kind: "play", index: s.index, side: "assistant" }));
    play.setAttribute("aria-label", `Play assistant turn ${s.index + 1}`);
    const spec = el("div", "rw-tr-spec");
    spec.hidden = true;
    const specBtn = button("spectrogram", () => {
      if (!spec.hidden) {
        spec.hidden = true; // a second click closes it
        spec.textContent = "";
        specBtn.setAttribute("aria-expanded", "false");
        specBtn.textContent = "spectrogram";
        return;
      }
      spec.hidden = false;
      specBtn.setAttribute("aria-expanded", "true");
      specBtn.textContent = "hide spectrogram";
      requestSpectrogram(s.index, spec, div);
    });
    specBtn.setAttribute("aria-expanded", "false");
    const actions = el("span", "rw-tr-actions");
    actions.append(meta, play, specBtn);
    asstRow.querySelector(".rw-tr-main").append(actions);
    div.append(userRow, asstRow, spec);
    block = { div, rows: [userRow, asstRow], userMeta, playUser, mark, usage, error: null, meta, play, spec };
    blocks.set(s.index, block);
    // keep turn order even if a later turn arrives first
    let before = null;
    for (const [i, b] of blocks) if (i > s.index && (!before || i < Number(before.dataset.turn))) before = b.div;
    root.insertBefore(div, before || total); // the total stays last
    return block;
  }

  // Drawn by the kernel for this page's theme, as wide as the turn (in device pixels: sharp).
  function requestSpectrogram(index, spec, div) {
    spec.textContent = "rendering…";
    const cssWidth = (spec.clientWidth || div.clientWidth) - 8; // inside the padding
    const width = Math.round(cssWidth * (window.devicePixelRatio || 1));
    model.send({ kind: "spectrogram", index, theme: pageTheme(root), width });
  }

  // An open figure follows a change of JupyterLab's theme.
  const themeWatch = new MutationObserver(() => {
    for (const [index, b] of blocks) if (!b.spec.hidden) requestSpectrogram(index, b.spec, b.div);
  });
  themeWatch.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light"] });

  function playPcm(buffer, rate) {
    audioCtx = audioCtx || new AudioContext();
    const pcm = new Int16Array(buffer.buffer, buffer.byteOffset, buffer.byteLength / 2);
    const audio = audioCtx.createBuffer(1, pcm.length, rate);
    const ch = audio.getChannelData(0);
    for (let i = 0; i < pcm.length; i++) ch[i] = pcm[i] / 32768;
    const src = audioCtx.createBufferSource();
    src.buffer = audio;
    src.connect(audioCtx.destination);
    src.start();
  }

  function onMessage(msg, buffers) {
    if (!msg || typeof msg !== "object") return;
    if (msg.kind === "reset") {
      for (const b of blocks.values()) b.div.remove();
      blocks.clear();
    }
    if (msg.kind === "reset" || msg.kind === "turns") {
      for (const s of msg.turns) fill(ensure(s), s);
      total.textContent = msg.total || "";
      total.hidden = !msg.total;
      empty.hidden = blocks.size > 0;
      root.scrollTop = root.scrollHeight;
    } else if (msg.kind === "spectrogram") {
      const block = blocks.get(msg.index);
      if (!block || block.spec.hidden) return; // closed before it came
      block.spec.textContent = "";
      if (msg.error) {
        block.spec.append(el("span", "rw-tr-error", msg.error));
      } else if (buffers && buffers.length) {
        const img = document.createElement("img");
        img.alt = `Spectrogram of turn ${msg.index + 1}`;
        img.src = URL.createObjectURL(new Blob([buffers[0]], { type: "image/png" }));
        img.addEventListener(
          "load",
          () => {
            URL.revokeObjectURL(img.src); // decoded: the blob can go
            img.scrollIntoView({ block: "nearest" });
          },
          { once: true },
        );
        block.spec.append(img);
      }
    } else if (msg.kind === "audio" && buffers && buffers.length) {
      playPcm(buffers[0], msg.rate || 24000);
    }
  }

  model.on("msg:custom", onMessage);
  model.send({ kind: "ready" });
  return () => {
    model.off("msg:custom", onMessage);
    themeWatch.disconnect();
    if (audioCtx) audioCtx.close();
  };
}

export default { render };
