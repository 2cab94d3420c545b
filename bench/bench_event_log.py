"""Event log ingest benchmark: kernel cost per event, and front-end time per batch in Chromium.

    python bench/bench_event_log.py [--events 20000] [--batch-events 500] [--no-browser]

1. Kernel: 20,000 realistic events (audio deltas with base64 PCM16, transcript deltas, appends,
   VAD and response lifecycle events) go through `EventLog.ingest` one by one; the figure is the
   wall time per event, including the amortised batch flushes (summaries, wire rows).
2. Front end: the batches the kernel produced (one per `--batch-events` events: 500 events per
   ~100 ms flush is ~10x a real session's event rate) are replayed into `event_log.js`, loaded
   into Debian's Chromium with a minimal anywidget `model`; each batch is timed from message to
   finished layout (a forced reflow).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import pathlib
import statistics
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from realtime_widgets.events import RealtimeEvent  # noqa: E402
from realtime_widgets.protocol import OUTPUT_DELTA_BYTES  # noqa: E402
from realtime_widgets.widgets.event_log import EventLog  # noqa: E402

GOAL_KERNEL_US = 50.0
GOAL_FRONT_MS = 16.0
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def realistic_events(n: int, seed: int = 0) -> list[RealtimeEvent]:
    """Sessions' worth of events: user audio appends, VAD, then a spoken response per turn."""
    rng = np.random.default_rng(seed)
    audio = {size: base64.b64encode(rng.bytes(size)).decode() for size in (*OUTPUT_DELTA_BYTES, 4800)}
    words = "sure here is a short answer about the weather today in the city".split()
    out: list[RealtimeEvent] = []
    t = 0.0
    turn = 0

    def add(raw: dict, direction: str = "server", dt: float = 0.002) -> None:
        nonlocal t
        t += dt
        out.append(RealtimeEvent.from_raw(raw, direction, t))

    while len(out) < n:
        turn += 1
        for _ in range(15):  # 1.5 s of microphone
            add({"type": "input_audio_buffer.append", "audio": audio[4800]}, "client", 0.1)
        add({"type": "input_audio_buffer.speech_started", "audio_start_ms": 300, "item_id": f"item_u{turn}"})
        for _ in range(8):
            add({"type": "input_audio_buffer.append", "audio": audio[4800]}, "client", 0.1)
        add({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 1900, "item_id": f"item_u{turn}"})
        add({"type": "input_audio_buffer.committed", "item_id": f"item_u{turn}"})
        add(
            {
                "type": "conversation.item.added",
                "item": {"id": f"item_u{turn}", "type": "message", "role": "user"},
            }
        )
        add({"type": "response.created", "response": {"id": f"resp_{turn}", "status": "in_progress"}})
        add({"type": "response.output_item.added", "item": {"id": f"item_a{turn}", "role": "assistant"}})
        for i in range(60):
            size = OUTPUT_DELTA_BYTES[min(i, 2)]
            add({"type": "response.output_audio.delta", "response_id": f"resp_{turn}", "delta": audio[size]})
            add(
                {
                    "type": "response.output_audio_transcript.delta",
                    "response_id": f"resp_{turn}",
                    "delta": words[i % len(words)] + " ",
                }
            )
        add(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": f"item_u{turn}",
                "transcript": "what is the weather like",
            }
        )
        add({"type": "response.output_audio.done", "response_id": f"resp_{turn}"})
        add({"type": "response.done", "response": {"id": f"resp_{turn}", "status": "completed"}})
        if turn % 7 == 0:
            add({"type": "error", "error": {"type": "invalid_request_error", "code": "x", "message": "bad"}})
    return out[:n]


class _CapturingLog(EventLog):
    """EventLog whose custom messages are kept (no front end is attached in the kernel half)."""

    def __init__(self, **kw):
        self.sent: list[dict] = []
        super().__init__(**kw)

    def send(self, content, buffers=None):
        self.sent.append(content)


def bench_kernel(events: list[RealtimeEvent], batch_events: int) -> tuple[float, list[dict], dict]:
    best = float("inf")
    batches: list[dict] = []
    log = _CapturingLog()
    for _ in range(3):
        log = _CapturingLog()
        log.sent.clear()
        start = time.perf_counter()
        for i, event in enumerate(events, 1):
            log.ingest(event)
            if i % batch_events == 0:
                log.flush()
        log.flush()
        elapsed = time.perf_counter() - start
        if elapsed < best:
            best, batches = elapsed, [m for m in log.sent if m["kind"] == "rows"]
    log.search = "delta"  # a filter change re-sends the newest max_rows matching rows at once
    reset = log.sent[-1]
    return best / len(events) * 1e6, batches, reset


_PAGE_JS = """
async ([esm, css, batches, reset, maxRows]) => {
  const style = document.createElement("style"); style.textContent = css; document.head.append(style);
  const url = URL.createObjectURL(new Blob([esm], { type: "text/javascript" }));
  const mod = await import(url);
  const handlers = {};
  const state = { max_rows: maxRows, type_filter: "", search: "", types: [] };
  const model = {
    get: (k) => state[k], set: (k, v) => { state[k] = v; }, save_changes() {},
    on: (ev, cb) => { (handlers[ev] = handlers[ev] || []).push(cb); }, off() {}, send() {},
  };
  const el = document.createElement("div"); document.body.append(el);
  mod.default.render({ model, el });
  const times = [];
  for (const msg of batches) {
    const t0 = performance.now();
    for (const cb of handlers["msg:custom"]) cb(msg, []);
    void el.offsetHeight;  // finish style and layout inside the measurement
    times.push(performance.now() - t0);
    await new Promise(requestAnimationFrame);
  }
  const domRows = el.querySelectorAll(".rw-ev-row").length;
  const t0 = performance.now();
  for (const cb of handlers["msg:custom"]) cb(reset, []);
  void el.offsetHeight;
  const resetMs = performance.now() - t0;
  return { times, domRows, resetMs, resetRows: reset.rows.length };
}
"""


def bench_front_end(batches: list[dict], reset: dict, max_rows: int) -> dict:
    from playwright.sync_api import sync_playwright

    here = ROOT / "realtime_widgets" / "widgets"
    esm, css = (here / "event_log.js").read_text(), (here / "event_log.css").read_text()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.set_content("<!doctype html><html><body></body></html>")
            return page.evaluate(_PAGE_JS, [esm, css, batches, reset, max_rows])
        finally:
            browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--batch-events", type=int, default=500)
    ap.add_argument("--max-rows", type=int, default=2000)
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("no_proxy", "*")

    events = realistic_events(args.events)
    per_event_us, batches, reset = bench_kernel(events, args.batch_events)
    rows = sum(len(b["rows"]) for b in batches)
    wire_kb = sum(len(json.dumps(b)) for b in batches) / 1024
    print(f"events: {len(events)}  batches: {len(batches)}  rows sent: {rows}  wire: {wire_kb:.0f} KiB")
    verdict = "OK" if per_event_us < GOAL_KERNEL_US else "MISSED"
    print(
        f"kernel cost per event: goal < {GOAL_KERNEL_US:.0f} us, measured {per_event_us:.2f} us  [{verdict}]"
    )
    if args.no_browser:
        return
    result = bench_front_end(batches, reset, args.max_rows)
    times = sorted(result["times"])
    p50 = statistics.median(times)
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    worst = times[-1]
    verdict = "OK" if p95 < GOAL_FRONT_MS else "MISSED"
    print(
        f"front-end update per batch ({args.batch_events} events): goal < {GOAL_FRONT_MS:.0f} ms, "
        f"measured p50 {p50:.2f} ms, p95 {p95:.2f} ms, max {worst:.2f} ms  [{verdict}]"
    )
    print(f"rows in the DOM at the end: {result['domRows']} (cap {args.max_rows})")
    print(f"filter change (full re-render of {result['resetRows']} rows): {result['resetMs']:.2f} ms")


if __name__ == "__main__":
    main()
