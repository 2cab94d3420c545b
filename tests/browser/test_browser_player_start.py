"""The player's start rule in Chromium: player.js itself, driven the way the kernel's comm drives it.

The page loads the player's ESM and hands it a model with the anywidget interface, whose custom
messages the test sends at chosen times (the kernel -> page path is what the rule reacts to, so the
test sets its timing). Each AudioBufferSourceNode.start is logged with the context time it was called
at: the lead a stream starts with is `when - now` of its first chunk, and a join is sample-exact when a
chunk starts on the frame where the one before it ends.
"""

from __future__ import annotations

from typing import Any

import pytest
from browser_harness import REPO

RATE = 24_000
MIN_LEAD_MS = 20.0  # player.js MIN_LEAD_S

SETUP = """async (source) => {
  const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  const module = await import(url);
  const handlers = {};
  const state = { volume: 1, muted: false, played_ms: 0 };
  const model = {
    sent: [],
    on: (name, fn) => (handlers[name] = handlers[name] || []).push(fn),
    off: (name, fn) => (handlers[name] = (handlers[name] || []).filter((g) => g !== fn)),
    get: (key) => state[key],
    set: (key, value) => (state[key] = value),
    save_changes: () => {},
    send: (msg) => model.sent.push(msg),
  };
  const starts = [];
  const start = AudioBufferSourceNode.prototype.start;
  AudioBufferSourceNode.prototype.start = function (when = 0, ...rest) {
    starts.push({ when, now: this.context.currentTime, frames: this.buffer.length });
    window.ctx = this.context;
    return start.call(this, when, ...rest);
  };
  const widget = module.default();
  widget.initialize({ model });
  widget.render({ model, el: document.body });
  const chunk = (stream, seq, ms) => {
    const pcm = new Int16Array((24000 * ms) / 1000);
    for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(3000 * Math.sin(i / 7));
    for (const fn of handlers["msg:custom"]) fn({ kind: "audio", stream, seq, kt: Date.now() }, [new DataView(pcm.buffer)]);
  };
  const end = (stream) => { for (const fn of handlers["msg:custom"]) fn({ kind: "end", stream }); };
  // Chunks of `ms` each after `waits` ms (0: in the same task as the one before), then "end".
  window.stream = async (name, plan) => {
    for (const [seq, [wait, ms]] of plan.entries()) {
      if (wait) await new Promise((resolve) => setTimeout(resolve, wait));
      chunk(name, seq, ms);
    }
    end(name);
  };
  window.player = { model, starts };
}"""

# Until everything scheduled has played (the next stream then starts after silence).
PLAYED = "() => { const s = window.player.starts.at(-1); return window.ctx.currentTime > s.when + s.frames / 24000 + 0.05; }"


def _stream(page: Any, name: str, plan: list[tuple[int, int]]) -> list[dict[str, float]]:
    """Play one stream (plan: [(wait ms, chunk ms)]) after silence; its chunks' starts."""
    before = page.evaluate("window.player.starts.length")
    page.evaluate("([name, plan]) => window.stream(name, plan)", [name, plan])
    page.wait_for_function(PLAYED, timeout=20_000)
    return page.evaluate("(n) => window.player.starts.slice(n)", before)


def _lead_ms(starts: list[dict[str, float]]) -> float:
    return (starts[0]["when"] - starts[0]["now"]) * 1000


def _gapless(starts: list[dict[str, float]]) -> bool:
    frames = [round(s["when"] * RATE) for s in starts]
    return all(b == a + s["frames"] for a, b, s in zip(frames, frames[1:], starts, strict=False))


def _underruns(page: Any) -> list[dict[str, Any]]:
    return page.evaluate("window.player.model.sent.filter((m) => m.kind === 'underrun')")


@pytest.fixture
def player_page(chromium: Any) -> Any:
    context = chromium.new_context()
    page = context.new_page()
    page.set_content("<html><body></body></html>")
    page.evaluate(SETUP, (REPO / "realtime_widgets" / "widgets" / "player.js").read_text())
    try:
        yield page
    finally:
        context.close()


def test_early_chunks_start_a_reply_after_the_minimum_lead_without_gaps(player_page: Any) -> None:
    # The emulator's shape: a 100 ms delta, then 150 and 250 ms ones, all faster than real time.
    early = [(0, 100), (0, 150), (0, 250), (0, 250)]
    first = _stream(player_page, "a", early)
    second = _stream(player_page, "b", early)
    for starts in (first, second):
        # Scheduled at once: the first sample plays one minimum lead after the first chunk came (the
        # old 0.5 s start buffer waited 73-86 ms); early chunks teach the player nothing to wait for.
        assert MIN_LEAD_MS - 1 <= _lead_ms(starts) <= MIN_LEAD_MS + 1
        assert len(starts) == 4 and _gapless(starts)
    assert _underruns(player_page) == []


def test_a_late_chunk_grows_the_lead_so_the_same_stall_makes_no_gap_after_the_first_chunk(
    player_page: Any,
) -> None:
    _stream(player_page, "warm", [(0, 100), (0, 150)])
    # The second chunk comes 250 ms after the first: ~130 ms after its 100 ms ran out (lead 20 ms).
    late = _stream(player_page, "late", [(0, 100), (250, 150), (0, 250)])
    gaps = _underruns(player_page)
    assert [(g["stream"], g["seq"]) for g in gaps] == [("late", 1)]
    assert gaps[0]["late_ms"] >= 100  # however much later the timer fired on a busy machine
    assert _gapless(late[1:])  # restarted once, then gapless again
    # The next reply waits for what that stall asked (~200 ms; at most MAX_LEAD_S), and a second chunk
    # 200 ms after its first then plays with no gap after the first chunk.
    stalled = _stream(player_page, "stalled", [(0, 100), (200, 150), (0, 250)])
    assert 150 <= _lead_ms(stalled) <= 301
    assert _gapless(stalled) and len(_underruns(player_page)) == 1
    # Clean replies let the lead shrink again, 10 % per reply towards what each needed.
    leads = [_lead_ms(_stream(player_page, f"calm{i}", [(0, 100), (0, 150)])) for i in range(3)]
    assert leads[0] > leads[1] > leads[2] >= MIN_LEAD_MS - 1
