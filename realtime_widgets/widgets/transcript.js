// TranscriptView front end: one block per turn, user row then assistant row.
// Rows carry data-role="user"|"assistant" and role="listitem" for tests and screen readers.

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
  root.append(empty);
  const blocks = new Map(); // turn index -> element
  let audioCtx = null;

  function msgRow(role, index) {
    const row = el("div", "rw-tr-msg");
    row.dataset.role = role;
    row.dataset.turn = String(index);
    row.setAttribute("role", "listitem");
    row.setAttribute("aria-label", `${role} turn ${index + 1}`);
    row.append(el("span", "rw-tr-who", role === "user" ? "You" : "Assistant"), el("span", "rw-tr-text"));
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
    const utext = userRow.children[1];
    utext.textContent = s.user;
    utext.classList.toggle("rw-tr-pending", s.user_pending);
    const umeta = block.userMeta;
    umeta.textContent = s.user_audio_s ? `${s.user_audio_s} s` : "";

    const atext = asstRow.children[1];
    const waiting = !s.assistant && (s.status === "pending" || s.status === "in_progress");
    atext.textContent = s.assistant || (waiting ? "…" : "");
    atext.classList.toggle("rw-tr-pending", waiting);
    block.mark.textContent = s.interrupted + (s.error ? ` ${s.error}` : "");
    block.mark.classList.toggle("rw-tr-error", !!s.error);
    const meta = [];
    if (s.latency) meta.push(`first audio ${s.latency}`);
    if (s.latency_done) meta.push(`done ${s.latency_done}`);
    if (s.audio_s) meta.push(`${s.audio_s} s audio`);
    if (s.underruns) meta.push(`${s.underruns} underrun${s.underruns > 1 ? "s" : ""}`);
    if (s.status && s.status !== "completed") meta.push(s.status);
    block.meta.textContent = meta.join(" · ");
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
    userRow.append(userMeta, playUser);
    const mark = el("span", "rw-tr-mark");
    const meta = el("span", "rw-tr-meta");
    const play = button("▶ play", () => model.send({ kind: "play", index: s.index, side: "assistant" }));
    play.setAttribute("aria-label", `Play assistant turn ${s.index + 1}`);
    const specBtn = button("spectrogram", () => {
      spec.textContent = "rendering…";
      model.send({ kind: "spectrogram", index: s.index });
    });
    asstRow.append(mark, meta, play, specBtn);
    const spec = el("div", "rw-tr-spec");
    div.append(userRow, asstRow, spec);
    block = { div, rows: [userRow, asstRow], userMeta, playUser, mark, meta, play, spec };
    blocks.set(s.index, block);
    // keep turn order even if a later turn arrives first
    let before = null;
    for (const [i, b] of blocks) if (i > s.index && (!before || i < Number(before.dataset.turn))) before = b.div;
    root.insertBefore(div, before);
    return block;
  }

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
      empty.hidden = blocks.size > 0;
      root.scrollTop = root.scrollHeight;
    } else if (msg.kind === "spectrogram") {
      const block = blocks.get(msg.index);
      if (!block) return;
      block.spec.textContent = "";
      if (msg.error) {
        block.spec.append(el("span", "rw-tr-error", msg.error));
      } else if (buffers && buffers.length) {
        const img = document.createElement("img");
        img.alt = `Spectrogram of turn ${msg.index + 1}`;
        img.src = URL.createObjectURL(new Blob([buffers[0]], { type: "image/png" }));
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
    if (audioCtx) audioCtx.close();
  };
}

export default { render };
