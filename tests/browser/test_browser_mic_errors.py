"""When the microphone cannot be had, the recorder says so in words, on the page and in the kernel."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browser_harness import CHROMIUM, KernelProbe, chromium_args, run_all_cells, write_notebook

RECORDER = """\
from realtime_widgets import MicRecorder

recorder = MicRecorder()
recorder
"""


@pytest.fixture(scope="module")
def playwright():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def chromium_without_mic_permission(playwright, fake_mic_wav) -> Iterator[object]:
    # Without the fake-UI flag Chromium asks the (absent) user, and headless that means "denied".
    args = [a for a in chromium_args(fake_mic_wav) if a != "--use-fake-ui-for-media-stream"]
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def chromium_without_microphones(playwright, fake_mic_wav) -> Iterator[object]:
    # Permission granted, but no fake capture device: this machine has no microphone at all.
    args = [a for a in chromium_args(fake_mic_wav) if "fake-device" not in a and "fake-audio" not in a]
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
    yield browser
    browser.close()


def _click_record_and_read_the_alert(browser, jupyter_server, notebook: str, words: str) -> tuple[str, str]:
    write_notebook(jupyter_server.root / notebook, [RECORDER])
    jupyter_server.start_kernel_for(notebook)
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(jupyter_server.lab_url(notebook))
        run_all_cells(page)
        page.get_by_role("button", name="Record").click(timeout=60_000)
        alert = page.locator(".rw-recorder [role=alert]")
        alert.filter(has_text=words).first.wait_for()
        assert page.get_by_role("button", name="Record").is_visible()  # back to a usable state
        with KernelProbe(jupyter_server, notebook) as probe:
            kernel_error = probe.wait_for(
                "(lambda e: e if e and not recorder.recording else None)(recorder.error)"
            )
        return alert.first.inner_text(), kernel_error
    finally:
        context.close()
        jupyter_server.shutdown_kernels()


def test_permission_denied_is_shown_in_words(chromium_without_mic_permission, jupyter_server) -> None:
    page_text, kernel_error = _click_record_and_read_the_alert(
        chromium_without_mic_permission, jupyter_server, "denied.ipynb", "permission"
    )
    assert "Allow the microphone" in page_text
    assert "permission was denied" in kernel_error


def test_no_microphone_is_shown_in_words(chromium_without_microphones, jupyter_server) -> None:
    page_text, kernel_error = _click_record_and_read_the_alert(
        chromium_without_microphones, jupyter_server, "nodevice.ipynb", "microphone"
    )
    assert page_text == kernel_error and "No microphone" in kernel_error, kernel_error
