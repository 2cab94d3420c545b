"""What the browser benches share: loopback-only settings, the emulator in its own process, and
JupyterLab + Chromium (fake mic) with a notebook open and run.

Importing it clears proxy settings (the benches open loopback sockets only; no real service is
used) and puts tests/browser (browser_harness) and the repository on sys.path.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

for _name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_name, None)
os.environ["no_proxy"] = os.environ["NO_PROXY"] = "*"
os.environ.pop("AZURE_OPENAI_ENDPOINT", None)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from browser_harness import (  # noqa: E402, F401 (KernelProbe: for the benches)
    CHROMIUM,
    JupyterServer,
    KernelProbe,
    chromium_args,
    free_port,
    make_fake_mic_wav,
    run_all_cells,
    write_notebook,
)


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"the emulator did not listen on port {port} within {timeout} s")


@contextmanager
def emulator_process(*cli_args: str) -> Iterator[str]:
    """The emulator in its own process (in a kernel, its speech synthesis would stall the loop); yields its endpoint.

    `cli_args` are more of its command-line flags (`"--network-delay-ms", "50"`, ...)."""
    port = free_port()
    emulator = subprocess.Popen(
        [sys.executable, "-m", "realtime_widgets.emulator", "--port", str(port), *cli_args]
    )
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        emulator.terminate()
        try:
            emulator.wait(10)
        except subprocess.TimeoutExpired:  # a busy machine: do not lose the run for a slow exit
            emulator.kill()
            emulator.wait()


@contextmanager
def lab_server() -> Iterator[JupyterServer]:
    """JupyterLab on a free port with a temporary root (notebooks go in `server.root`)."""
    with tempfile.TemporaryDirectory() as tmp:
        server = JupyterServer(root=Path(tmp) / "root").start()
        try:
            yield server
        finally:
            server.stop()


def open_lab_page(
    browser: Any, server: JupyterServer, notebook: str, cell: str, init_script: str | None = None
) -> Any:
    """A new Chromium page with `notebook` (one cell: `cell`) open in JupyterLab and run."""
    write_notebook(server.root / notebook, [cell])
    server.start_kernel_for(notebook)
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    if init_script is not None:
        page.add_init_script(init_script)
    page.set_default_timeout(60_000)
    page.goto(server.lab_url(notebook))
    run_all_cells(page)
    return page


@contextmanager
def lab_with_emulator(
    notebook: str, setup: str, init_script: str | None = None
) -> Iterator[tuple[JupyterServer, Any]]:
    """JupyterLab and Chromium (Debian's, fake mic) with `notebook` open and its one cell run.

    `setup` is the cell's code with `{endpoint}` where the emulator's address goes; yields the
    server (for KernelProbe) and the Playwright page.
    """
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, lab_server() as server, emulator_process() as endpoint:
        mic = make_fake_mic_wav(Path(tmp) / "mic.wav")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=chromium_args(mic))
            page = open_lab_page(browser, server, notebook, setup.format(endpoint=endpoint), init_script)
            yield server, page
            browser.close()
