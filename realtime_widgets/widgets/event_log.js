// EventLog front end: renders row batches the kernel sends as custom messages.
// The newest `max_rows` rows stay in the DOM (the kernel keeps as many); older events are counted
// and stay in the session's event log, which the export writes whole.

function fmtTime(t) {
  return "+" + t.toFixed(3) + " s";
}

const TYPE_CHARS = 40; // the type column's width in characters (event_log.css)

// A type name longer than its column keeps its last dot-separated parts, which say what happened:
// "conversation.item.input_audio_transcription.completed" -> "…input_audio_transcription.completed".
function shortType(name) {
  if (name.length <= TYPE_CHARS) return name;
  const parts = name.split(".");
  let tail = parts.pop();
  while (parts.length && parts[parts.length - 1].length + tail.length + 2 <= TYPE_CHARS) {
    tail = parts.pop() + "." + tail;
  }
  return "…" + tail.slice(-(TYPE_CHARS - 1));
}

function makeRow(r) {
  // r = [index, time, dir ("c"|"s"), type, count, isError, summary]
  const row = document.createElement("div");
  row.className = "rw-ev-row" + (r[5] ? " rw-ev-error" : "");
  row.setAttribute("role", "row");
  row.dataset.index = String(r[0]);
  row.dataset.type = r[3];
  row.dataset.direction = r[2] === "c" ? "client" : "server";
  const time = document.createElement("span");
  time.className = "rw-ev-time";
  time.textContent = fmtTime(r[1]);
  const dir = document.createElement("span");
  dir.className = "rw-ev-dir";
  dir.textContent = r[2] === "c" ? "↑" : "↓";
  dir.title = r[2] === "c" ? "client → server" : "server → client";
  const type = document.createElement("span");
  type.className = "rw-ev-type";
  type.textContent = shortType(r[3]);
  type.title = r[3]; // the whole name; the column keeps one width so every row lines up
  const count = document.createElement("span");
  count.className = "rw-ev-count";
  const summary = document.createElement("span");
  summary.className = "rw-ev-summary";
  row.append(time, dir, type, count, summary);
  updateRow(row, r);
  return row;
}

function updateRow(row, r) {
  const count = row.children[3];
  count.textContent = r[4] > 1 ? "×" + r[4] : "";
  row.dataset.count = String(r[4]);
  row.children[4].textContent = r[6];
}

function render({ model, el }) {
  el.classList.add("rw-event-log");
  const bar = document.createElement("div");
  bar.className = "rw-ev-bar";
  const filter = document.createElement("select");
  filter.className = "rw-ev-filter";
  filter.setAttribute("aria-label", "Filter by event type");
  const search = document.createElement("input");
  search.type = "search";
  search.className = "rw-ev-search";
  search.placeholder = "Search events";
  search.setAttribute("aria-label", "Search events");
  search.value = model.get("search");
  const exportBtn = document.createElement("button");
  exportBtn.textContent = "Export JSONL";
  exportBtn.className = "rw-ev-export";
  const status = document.createElement("span");
  status.className = "rw-ev-status";
  status.setAttribute("aria-live", "polite");
  bar.append(filter, search, exportBtn, status);

  const hidden = document.createElement("div");
  hidden.className = "rw-ev-hidden";
  hidden.hidden = true;
  const list = document.createElement("div");
  list.className = "rw-ev-list";
  list.setAttribute("role", "table");
  list.setAttribute("aria-label", "Realtime events");
  const empty = document.createElement("div");
  empty.className = "rw-ev-empty";
  empty.setAttribute("role", "status");
  el.append(bar, hidden, list, empty);

  const rows = new Map(); // index -> element, in insertion (time) order
  let nEvents = 0;
  let nHiddenEvents = 0;
  let tapped = null; // seconds of a WebRTC call's tapped audio per side: counted, not listed

  function fillTypes() {
    const current = model.get("type_filter");
    filter.textContent = "";
    const options = [["", "All events"], ["errors", "Errors only"]];
    for (const t of model.get("types")) options.push([t, t]);
    if (current && !options.some((o) => o[0] === current)) options.push([current, current]);
    for (const [value, label] of options) {
      const o = document.createElement("option");
      o.value = value;
      o.textContent = label;
      filter.append(o);
    }
    filter.value = current;
  }

  const number = new Intl.NumberFormat("en-US");

  function showStatus() {
    status.textContent = `${number.format(nEvents)} events · ${number.format(rows.size)} rows shown`;
    if (tapped && tapped.input + tapped.output > 0) {
      status.textContent += ` · call audio tapped: you ${tapped.input.toFixed(1)} s, model ${tapped.output.toFixed(1)} s`;
      status.title = "The page's copy of the WebRTC call's audio is kept in the conversation, not listed as events";
    }
    hidden.hidden = nHiddenEvents === 0;
    hidden.textContent = `${number.format(nHiddenEvents)} earlier events not shown; export has all`;
    empty.hidden = rows.size > 0;
    empty.textContent = nEvents ? "No events match " + describeFilter() : "No events yet";
  }

  function describeFilter() {
    const type = model.get("type_filter");
    const query = model.get("search");
    const parts = [];
    if (type) parts.push(type === "errors" ? "“Errors only”" : `the type ${type}`);
    if (query) parts.push(`the search “${query}”`);
    return parts.join(" and ") || "the filter";
  }

  function trim() {
    const max = model.get("max_rows");
    if (rows.size <= max) return;
    let extra = rows.size - max;
    for (const [index, row] of rows) {
      if (extra-- <= 0) break;
      const next = row.nextSibling;
      if (next && next.classList && next.classList.contains("rw-ev-detail")) next.remove();
      row.remove();
      rows.delete(index);
    }
  }

  function applyRows(batch, reset) {
    const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
    if (reset) {
      rows.clear();
      list.textContent = "";
    }
    const frag = document.createDocumentFragment();
    for (const r of batch) {
      const existing = rows.get(r[0]);
      if (existing) {
        updateRow(existing, r);
      } else {
        const row = makeRow(r);
        rows.set(r[0], row);
        frag.append(row);
      }
    }
    list.append(frag);
    trim();
    showStatus();
    if (atBottom || reset) list.scrollTop = list.scrollHeight;
  }

  function onMessage(msg, buffers) {
    if (!msg || typeof msg !== "object") return;
    if (msg.kind === "rows" || msg.kind === "reset") {
      nEvents = msg.n_events;
      nHiddenEvents = msg.n_hidden_events || 0;
      tapped = msg.tapped_s || null;
      applyRows(msg.rows, msg.kind === "reset");
    } else if (msg.kind === "detail") {
      const row = rows.get(msg.index);
      if (!row) return;
      const pre = row.nextSibling;
      if (pre && pre.classList && pre.classList.contains("rw-ev-detail")) pre.textContent = msg.json;
    } else if (msg.kind === "export" && buffers && buffers.length) {
      const blob = new Blob([buffers[0]], { type: "application/x-ndjson" });
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = msg.filename || "events.jsonl";
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    }
  }

  list.addEventListener("click", (ev) => {
    const row = ev.target.closest(".rw-ev-row");
    if (!row) return;
    const next = row.nextSibling;
    if (next && next.classList && next.classList.contains("rw-ev-detail")) {
      next.remove();
      row.classList.remove("rw-ev-open");
      return;
    }
    const pre = document.createElement("pre");
    pre.className = "rw-ev-detail";
    pre.textContent = "loading…";
    row.after(pre);
    row.classList.add("rw-ev-open");
    model.send({ kind: "detail", index: Number(row.dataset.index) });
  });

  filter.addEventListener("change", () => {
    model.set("type_filter", filter.value);
    model.save_changes();
  });
  let searchTimer = null;
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      model.set("search", search.value);
      model.save_changes();
    }, 200);
  });
  exportBtn.addEventListener("click", () => model.send({ kind: "export" }));

  const onTypes = () => fillTypes();
  const onMax = () => {
    trim();
    showStatus();
  };
  model.on("msg:custom", onMessage);
  model.on("change:types", onTypes);
  model.on("change:type_filter", onTypes);
  model.on("change:max_rows", onMax);
  fillTypes();
  showStatus();
  model.send({ kind: "ready" });

  return () => {
    clearTimeout(searchTimer);
    model.off("msg:custom", onMessage);
    model.off("change:types", onTypes);
    model.off("change:type_filter", onTypes);
    model.off("change:max_rows", onMax);
  };
}

export default { render };
