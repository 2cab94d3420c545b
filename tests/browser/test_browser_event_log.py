"""The event log in JupyterLab and Chromium: Jupyter-styled controls of fixed width, aligned columns with
long type names, "No events match", the note on rows no longer kept; light and dark theme."""

from __future__ import annotations

from browser_harness import REPO, KernelProbe, open_notebook, set_theme

ARTIFACTS = REPO / "artifacts"

SETUP = """\
from realtime_widgets import EventLog, RealtimeSession, SessionConfig
from realtime_widgets.emulator import synthesize

# The embedded emulator; transcription on for the longest type name there is.
session = RealtimeSession(config=SessionConfig(transcription_model="gpt-4o-transcribe"))
await session.connect()
log = EventLog(session, max_rows=60)
log
"""

TURNS = """\
for text in ["Hello there.", "What is the weather like?", "Tell me a short story."]:
    await session.send_text(text)
await session.send_event({"type": "input_audio_buffer.commit"})  # an empty buffer: a server error
await session.send_audio(synthesize("Good morning."), rate=24000)
"""

# Every row's cells start at the same x, whatever the length of the type name.
COLUMNS_JS = """() => [...document.querySelectorAll('.rw-ev-row')].map(row =>
    [...row.children].map(c => Math.round(c.getBoundingClientRect().left)))"""
STYLE_JS = """() => {
  const bar = document.querySelector('.rw-ev-bar');
  const s = (el) => getComputedStyle(el);
  const [select, input, button] = ['select', 'input', 'button'].map(t => bar.querySelector(t));
  return {
    heights: [select, input, button].map(e => Math.round(e.getBoundingClientRect().height)),
    selectWidth: Math.round(select.getBoundingClientRect().width),
    selectBg: s(select).backgroundColor, selectColor: s(select).color, selectFont: s(select).fontFamily,
    logBg: s(document.querySelector('.rw-event-log')).backgroundColor,
    layout1: s(document.body).getPropertyValue('--jp-layout-color1').trim(),
    uiFont: s(document.body).getPropertyValue('--jp-ui-font-family').trim(),
  };
}"""


def _rgb_luma(css_color: str) -> float:
    parts = [float(p) for p in css_color[css_color.index("(") + 1 : css_color.index(")")].split(",")[:3]]
    return 0.2126 * parts[0] + 0.7152 * parts[1] + 0.0722 * parts[2]


def test_event_log_controls_columns_and_empty_filter(page, jupyter_server) -> None:
    open_notebook(page, jupyter_server, "event_log.ipynb", [SETUP, TURNS], wait_idle=True)
    with KernelProbe(jupyter_server, "event_log.ipynb") as probe:
        probe.wait_for("any(r.is_error for r in log.rows)", timeout=90)
        probe.wait_for("any(r.type.endswith('transcription.completed') for r in log.rows)", timeout=90)
        hidden = probe.wait_for("log.hidden_events", timeout=10)
        n_events = probe.value("len(session.event_log)")
    widget = page.locator(".rw-event-log")
    widget.scroll_into_view_if_needed()
    page.locator(".rw-ev-row.rw-ev-error").first.wait_for(timeout=10_000)

    # More rows than max_rows: the oldest are counted, and the page says where they are.
    note = page.locator(".rw-ev-hidden")
    note.wait_for(timeout=10_000)
    assert note.inner_text() == f"{hidden:,} earlier events not shown; export has all"
    assert page.locator(".rw-ev-row").count() == 60
    assert page.locator(".rw-ev-status").inner_text().startswith(f"{n_events:,} events")

    # Columns line up, long names included (cut with an ellipsis, whole in the tooltip).
    columns = page.evaluate(COLUMNS_JS)
    assert len({tuple(c) for c in columns}) == 1, columns[:5]
    full = "conversation.item.input_audio_transcription.completed"
    longest = page.locator(f'.rw-ev-row[data-type="{full}"] .rw-ev-type')
    assert longest.get_attribute("title") == full
    assert longest.inner_text() == "…input_audio_transcription.completed"  # the end says what happened
    longest.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    widget.screenshot(path=str(ARTIFACTS / "event-log-long-names-light.png"))
    delta = page.locator('.rw-ev-row[data-type="response.output_audio_transcript.delta"] .rw-ev-type').first
    assert delta.inner_text() == "response.output_audio_transcript.delta"
    assert delta.evaluate("e => e.scrollWidth <= e.clientWidth")  # not cut

    # Controls: JupyterLab's fonts and colours, one height, a fixed filter width.
    light = page.evaluate(STYLE_JS)
    assert len(set(light["heights"])) == 1 and light["heights"][0] >= 24, light
    assert light["uiFont"] and light["selectFont"].split(",")[0] == light["uiFont"].split(",")[0], light
    width = light["selectWidth"]
    page.locator(".rw-ev-filter").select_option("response.output_audio_transcript.delta")
    page.wait_for_timeout(500)
    assert page.evaluate(STYLE_JS)["selectWidth"] == width  # a long choice does not widen it
    page.locator(".rw-ev-filter").select_option("")

    # A search that matches nothing says so.
    page.locator(".rw-ev-search").fill("no-such-event-anywhere")
    empty = page.locator(".rw-ev-empty")
    empty.wait_for(state="visible", timeout=10_000)
    assert empty.inner_text() == "No events match the search “no-such-event-anywhere”"
    assert page.locator(".rw-ev-row").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    widget.screenshot(path=str(ARTIFACTS / "event-log-no-match-light.png"))
    page.locator(".rw-ev-search").fill("")
    empty.wait_for(state="hidden", timeout=10_000)
    page.locator(".rw-ev-row.rw-ev-error").first.click()  # its detail opens under it
    page.locator(".rw-ev-detail").first.wait_for()
    widget.screenshot(path=str(ARTIFACTS / "event-log-light.png"))

    set_theme(page, "JupyterLab Dark")
    dark = page.evaluate(STYLE_JS)
    assert _rgb_luma(dark["logBg"]) < 80 and _rgb_luma(dark["selectBg"]) < 100, dark  # no white boxes
    assert _rgb_luma(dark["selectColor"]) > 150, dark  # light text on the dark control
    assert page.evaluate(STYLE_JS)["selectWidth"] == width
    widget.screenshot(path=str(ARTIFACTS / "event-log-dark.png"))
    set_theme(page, "JupyterLab Light")
