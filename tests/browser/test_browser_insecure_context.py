"""On a page that is not a secure context the browser hides the microphone: the recorder says why."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browser_harness import CHROMIUM, KernelProbe, chromium_args, run_all_cells, write_notebook

HOST = "jupyter.insecure.test"  # resolves to 127.0.0.1, but is neither localhost nor https

RECORDER = """\
from realtime_widgets import MicRecorder

recorder = MicRecorder()
recorder
"""


@pytest.fixture(scope="module")
def chromium_with_a_remote_looking_host(fake_mic_wav) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    args = [*chromium_args(fake_mic_wav), f"--host-resolver-rules=MAP {HOST} 127.0.0.1"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            yield browser
        finally:
            browser.close()


def test_insecure_page_explains_the_missing_microphone(
    chromium_with_a_remote_looking_host, jupyter_server
) -> None:
    write_notebook(jupyter_server.root / "insecure.ipynb", [RECORDER])
    jupyter_server.start_kernel_for("insecure.ipynb")
    context = chromium_with_a_remote_looking_host.new_context(viewport={"width": 1200, "height": 800})
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(jupyter_server.lab_url("insecure.ipynb").replace("127.0.0.1", HOST))
        assert page.evaluate("window.isSecureContext") is False
        run_all_cells(page)
        page.get_by_role("button", name="Record").click(timeout=60_000)
        alert = page.locator(".rw-recorder [role=alert]")
        alert.filter(has_text="secure page").first.wait_for()
        assert HOST in alert.first.inner_text()  # it names the page's origin and what to do instead
        probe = KernelProbe(jupyter_server, "insecure.ipynb")
        try:
            error = probe.wait_for("recorder.error or None")
        finally:
            probe.close()
        assert "https://" in error and "localhost" in error
    finally:
        context.close()
        jupyter_server.shutdown_kernels()
