// CaptionsView front end: finished captions (trait "lines"), the one being spoken ("partial"),
// a dot that is red while speech is heard ("speaking"). Clear sends {kind: "clear"} to the kernel.

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function render({ model, el: root }) {
  root.classList.add("rw-captions");
  const head = el("div", "rw-captions-head");
  const dot = el("span", "rw-captions-dot");
  const state = el("span", "rw-captions-state");
  const clear = el("button", "rw-captions-clear", "Clear");
  clear.type = "button";
  clear.addEventListener("click", () => model.send({ kind: "clear" }));
  head.append(dot, state, clear);
  // aria-live: screen readers announce new captions as they are finished
  const lines = el("div", "rw-captions-lines");
  lines.setAttribute("role", "log");
  lines.setAttribute("aria-live", "polite");
  lines.setAttribute("aria-label", "Live captions");
  root.append(head, lines);

  function update() {
    const finished = model.get("lines") || [];
    const partial = model.get("partial") || "";
    const speaking = !!model.get("speaking");
    root.dataset.speaking = String(speaking);
    root.style.fontSize = `${model.get("font_size") || 18}px`;
    state.textContent = speaking ? "speech heard…" : partial ? "transcribing…" : "listening";
    lines.textContent = "";
    finished.forEach((text, i) => {
      const line = el("div", "rw-captions-line", text);
      if (i < finished.length - 1) line.classList.add("rw-captions-old");
      lines.append(line);
    });
    if (partial) lines.append(el("div", "rw-captions-partial", partial));
    if (!finished.length && !partial) lines.append(el("div", "rw-captions-empty", "Captions appear here as you speak."));
  }

  const names = ["change:lines", "change:partial", "change:speaking", "change:font_size"];
  for (const name of names) model.on(name, update);
  update();
  return () => {
    for (const name of names) model.off(name, update);
  };
}

export default { render };
