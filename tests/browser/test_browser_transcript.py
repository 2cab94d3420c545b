"""The transcript in JupyterLab: a turn's spectrogram inside the cell, toggled by its button, in the
page's theme; an interrupted turn shows the words heard and strikes through the rest."""

from __future__ import annotations

import time

from browser_harness import REPO, KernelProbe, open_notebook, set_theme

ARTIFACTS = REPO / "artifacts"

TRANSCRIPT = """\
from realtime_widgets import RealtimeSession, SessionConfig, TranscriptView

session = RealtimeSession(config=SessionConfig(voice="ash"))
await session.connect()
view = TranscriptView(session.conversation)
await session.send_text("What time is it in Tokyo?")
cut = await session.send_text("Please tell me a long story about a turtle on a very long journey.")
await session.interrupt(played_ms=1500)
view
"""

# The figure's corner pixel (its background), read from the <img> the kernel sent.
CORNER_PIXEL = """img => {
    const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    return Array.from(g.getImageData(3, 3, 1, 1).data);
}"""


def _open_spectrogram(page, turn: int):
    """Click the turn's spectrogram button; returns the loaded <img>."""
    button = page.locator(f'.rw-tr-turn[data-turn="{turn}"] button', has_text="spectrogram")
    button.click()
    image = page.locator(f'.rw-tr-turn[data-turn="{turn}"] .rw-tr-spec img')
    image.wait_for(timeout=60_000)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    return button, image


def test_spectrogram_fits_toggles_and_follows_the_theme(page, jupyter_server) -> None:
    name = "transcript.ipynb"
    open_notebook(page, jupyter_server, name, [TRANSCRIPT])
    if page.evaluate("document.body.dataset.jpThemeLight") != "true":
        set_theme(page, "JupyterLab Light")  # an earlier test may have left the server's Lab dark
    unheard = page.locator(".rw-tr-unheard")
    unheard.wait_for(timeout=90_000)
    ARTIFACTS.mkdir(exist_ok=True)

    # -- the interrupted turn: heard words, then the rest struck through and labelled
    with KernelProbe(jupyter_server, name) as probe:
        kernel = probe.value(
            "dict(heard=cut.heard_transcript, unheard=cut.unheard_transcript, ms=cut.truncated_ms)"
        )
    row = page.locator('.rw-tr-msg[data-role="assistant"][data-turn="1"]')
    assert row.locator(".rw-tr-heard").inner_text() == kernel["heard"]
    assert unheard.inner_text() == kernel["unheard"] and kernel["heard"] and kernel["unheard"]
    assert "line-through" in unheard.evaluate("e => getComputedStyle(e).textDecorationLine")
    assert row.locator(".rw-tr-unheard-label").inner_text() == "not played"
    badge = row.locator(".rw-tr-mark")
    assert badge.inner_text() == f"interrupted at {kernel['ms']} ms"
    # The note is a badge under the text, not a column beside it: the text keeps the row's width.
    text_box, row_box = row.locator(".rw-tr-body").bounding_box(), row.bounding_box()
    assert text_box["width"] > 0.5 * row_box["width"], (text_box, row_box)
    assert badge.bounding_box()["y"] > row.locator(".rw-tr-heard").bounding_box()["y"]

    # -- the spectrogram: inside the output area, closed by a second click
    button, image = _open_spectrogram(page, 0)
    output = page.locator(".jp-OutputArea-output", has=page.locator(".rw-transcript")).first
    image_box, output_box = image.bounding_box(), output.bounding_box()
    assert image_box["x"] >= output_box["x"] - 1
    assert image_box["x"] + image_box["width"] <= output_box["x"] + output_box["width"] + 1, (
        image_box,
        output_box,
    )
    assert image_box["width"] > 0.6 * output_box["width"]  # fitted, not a thumbnail
    assert button.get_attribute("aria-expanded") == "true"
    light_pixel = image.evaluate(CORNER_PIXEL)
    assert min(light_pixel[:3]) > 230, light_pixel  # a light figure in the light theme
    image.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "transcript-spectrogram-light.png"), full_page=True)
    button.click()
    assert page.locator('.rw-tr-turn[data-turn="0"] .rw-tr-spec img').count() == 0
    assert page.locator('.rw-tr-turn[data-turn="0"] .rw-tr-spec').is_hidden()
    assert button.get_attribute("aria-expanded") == "false"

    # -- dark theme: the figure is drawn dark
    set_theme(page, "JupyterLab Dark")
    try:
        _, image = _open_spectrogram(page, 1)
        dark_pixel = image.evaluate(CORNER_PIXEL)
        assert max(dark_pixel[:3]) < 60, dark_pixel
        image.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "transcript-spectrogram-dark.png"), full_page=True)
    finally:
        set_theme(page, "JupyterLab Light")
    # The open figure follows the theme back to light, without a click.
    redrawn = page.locator('.rw-tr-turn[data-turn="1"] .rw-tr-spec img')
    deadline = time.monotonic() + 30
    pixel = dark_pixel
    while time.monotonic() < deadline and min(pixel[:3]) <= 230:
        time.sleep(0.3)
        if redrawn.count():
            pixel = redrawn.evaluate(
                f"img => img.complete && img.naturalWidth ? ({CORNER_PIXEL})(img) : [0, 0, 0]"
            )
    assert min(pixel[:3]) > 230, pixel

    # -- a narrow window: the open figure shrinks with the cell, the interrupted text keeps its room
    page.set_viewport_size({"width": 820, "height": 1000})
    page.wait_for_timeout(500)
    image_box, output_box = redrawn.bounding_box(), output.bounding_box()
    assert image_box["x"] + image_box["width"] <= output_box["x"] + output_box["width"] + 1, (
        image_box,
        output_box,
    )
    text_box, row_box = row.locator(".rw-tr-body").bounding_box(), row.bounding_box()
    assert text_box["width"] > 0.5 * row_box["width"], (text_box, row_box)
    page.screenshot(path=str(ARTIFACTS / "transcript-narrow.png"), full_page=True)
