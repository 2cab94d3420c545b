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
def chromium_without_mic_permission(fake_mic_wav) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    # Without the fake-UI flag Chromium asks the (absent) user, and headless that means "denied".
    args = [a for a in chromium_args(fake_mic_wav) if a != "--use-fake-ui-for-media-stream"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            yield browser
        finally:
            browser.close()


def test_permission_denied_is_shown_in_words(chromium_without_mic_permission, jupyter_server) -> None:
    write_notebook(jupyter_server.root / "denied.ipynb", [RECORDER])
    jupyter_server.start_kernel_for("denied.ipynb")
    context = chromium_without_mic_permission.new_context(viewport={"width": 1200, "height": 800})
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(jupyter_server.lab_url("denied.ipynb"))
        run_all_cells(page)
        page.get_by_role("button", name="Record").click(timeout=60_000)
        alert = page.locator(".rw-recorder [role=alert]")
        alert.filter(has_text="permission").first.wait_for()
        assert "Allow the microphone" in alert.first.inner_text()
        assert page.get_by_role("button", name="Record").is_visible()  # back to a usable state
        probe = KernelProbe(jupyter_server, "denied.ipynb")
        try:
            state = probe.wait_for(
                "(lambda e: dict(error=e, recording=recorder.recording) if e else None)(recorder.error)"
            )
        finally:
            probe.close()
        assert "permission was denied" in state["error"] and state["recording"] is False
    finally:
        context.close()
        jupyter_server.shutdown_kernels()
