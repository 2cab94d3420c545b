"""A real JupyterLab server, a real Chromium with a fake microphone, and a kernel probe.

Shared by the browser tests (tests/browser/conftest.py) and bench/bench_widgets_audio.py.
Nothing here is mocked: the server is `jupyter lab` in a subprocess on a free port with token
auth and a temporary root, the browser is Debian's Chromium driven by Playwright, and the probe
runs code in the notebook's own kernel over ZMQ (jupyter_client) to read kernel-side state.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
MIC_RATE = 48_000
# Short, clear speech: the emulator's server VAD hears it and the recognizer has something to do.
MIC_TEXT = "Hello, what time is it?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_fake_mic_wav(path: Path, text: str = MIC_TEXT) -> Path:
    """48 kHz mono 16-bit WAV: 1 s silence, the emulator's voice saying `text`, 1 s silence."""
    from realtime_widgets.emulator import synthesize

    speech = np.asarray(synthesize(text, "alloy", rate=MIC_RATE), dtype=np.int16)
    silence = np.zeros(MIC_RATE, dtype=np.int16)
    samples = np.concatenate([silence, speech, silence])
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(MIC_RATE)
        w.writeframes(samples.astype("<i2").tobytes())
    return path


def chromium_args(mic_wav: Path) -> list[str]:
    return [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={mic_wav}",
        "--autoplay-policy=no-user-gesture-required",
    ]


@dataclass
class JupyterServer:
    """`jupyter lab` (which also serves Notebook 7's /tree and /notebooks) in a subprocess."""

    root: Path
    port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def runtime_dir(self) -> Path:
        return self.root.parent / f"{self.root.name}-runtime"

    def start(self, timeout: float = 60.0) -> JupyterServer:
        self.root.mkdir(parents=True, exist_ok=True)
        base = self.root.parent / f"{self.root.name}-jupyter"
        settings = base / "settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True, exist_ok=True)
        # No "receive Jupyter news?" toast over the notebook.
        (settings / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        env = dict(os.environ)
        env.update(
            JUPYTER_RUNTIME_DIR=str(self.runtime_dir),
            JUPYTER_CONFIG_DIR=str(base / "config"),
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
            MPLBACKEND="Agg",
        )
        self.log_path = base / "server.log"
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self._log = log
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyterlab",
                "--no-browser",
                f"--ServerApp.port={self.port}",
                "--ServerApp.port_retries=0",
                "--ServerApp.ip=127.0.0.1",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={self.root}",
                f"--LabApp.user_settings_dir={base / 'settings'}",
                f"--LabApp.workspaces_dir={base / 'workspaces'}",
                "--LabApp.news_url=None",
                # A kernel that ran an emulator waits ~2 s at exit for its voice workers (mid-import after
                # their warm-up): after 0.5 s its process group gets SIGTERM (nothing of a test is lost).
                "--KernelManager.shutdown_wait_time=1.0",
                "--ServerApp.allow_root=True",  # CI containers run as root
                # Still bound to 127.0.0.1; lets a test reach it under another host name (an insecure origin).
                "--ServerApp.allow_remote_access=True",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited early; see {self.log_path}:\n{self.log_tail()}")
            try:
                self.api("/api/status")
                return self
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"jupyter lab did not answer within {timeout} s; see {self.log_path}")

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if getattr(self, "_log", None):
            self._log.close()

    def api(self, path: str, method: str = "GET", body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=10) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def lab_url(self, notebook: str) -> str:
        # A fresh workspace per notebook: Lab would otherwise restore the previous test's tabs.
        workspace = Path(notebook).stem.replace("_", "-")
        return f"{self.url}/lab/workspaces/{workspace}/tree/{notebook}?reset&token={self.token}"

    def notebook7_url(self, notebook: str) -> str:
        return f"{self.url}/notebooks/{notebook}?token={self.token}"

    def tree_url(self) -> str:
        return f"{self.url}/tree?token={self.token}"

    def kernel_id_for(self, notebook: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for s in self.api("/api/sessions"):
                if s.get("path", "").endswith(notebook) and s.get("kernel"):
                    return s["kernel"]["id"]
            time.sleep(0.2)
        raise TimeoutError(f"no kernel session for {notebook}")

    def start_kernel_for(self, notebook: str) -> str:
        """A kernel session for `notebook` made through the REST API (so no "Select Kernel" dialog)."""
        body = {"path": notebook, "name": notebook, "type": "notebook", "kernel": {"name": "python3"}}
        return self.api("/api/sessions", method="POST", body=body)["kernel"]["id"]

    def shutdown_kernels(self) -> None:
        for s in self.api("/api/sessions"):
            self.api(f"/api/sessions/{s['id']}", method="DELETE")


def write_notebook(path: Path, cells: list[str]) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


class KernelProbe:
    """Runs code in a notebook's kernel (a second client on its ZMQ channels) and returns JSON."""

    def __init__(self, server: JupyterServer, notebook: str) -> None:
        from jupyter_client import BlockingKernelClient

        # The kernel the page talks to now: the page may have replaced the one made at the start.
        kernel_id = server.kernel_id_for(notebook)
        path = server.runtime_dir / f"kernel-{kernel_id}.json"
        deadline = time.monotonic() + 20
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.client = BlockingKernelClient(connection_file=str(path))
        self.client.load_connection_file()
        self.client.start_channels()
        self._wait_ready(timeout=30)

    def _wait_ready(self, timeout: float) -> None:
        # Not jupyter_client's wait_for_ready: after the kernel answers, it drains IOPub until 0.2 s
        # pass without a message, which never happens while a widget streams (a recording console
        # sends comm messages many times a second), so it never returned.
        import queue

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg_id = self.client.kernel_info()
            try:
                while True:
                    reply = self.client.get_shell_msg(timeout=1)
                    if reply["parent_header"].get("msg_id") == msg_id:
                        return
            except queue.Empty:
                continue
        raise TimeoutError(f"the kernel did not answer kernel_info in {timeout} s")

    def value(self, expression: str, timeout: float = 30.0) -> Any:
        """json.loads of the JSON the kernel prints for `expression`."""
        out: list[str] = []
        errors: list[str] = []

        def hook(msg: dict) -> None:
            kind = msg["header"]["msg_type"]
            if kind == "stream" and msg["content"]["name"] == "stdout":
                out.append(msg["content"]["text"])
            elif kind == "error":
                errors.append("\n".join(msg["content"]["traceback"]))

        code = f"import json as _j; print('\\x1e' + _j.dumps({expression}, default=str))"
        self.client.execute_interactive(code, output_hook=hook, timeout=timeout, store_history=False)
        if errors:
            raise RuntimeError(f"kernel raised for {expression!r}:\n{errors[0]}")
        text = "".join(out)
        return json.loads(text.rsplit("\x1e", 1)[1])

    def wait_for(self, expression: str, timeout: float = 30.0, interval: float = 0.1) -> Any:
        """Poll until `expression` is truthy in the kernel; returns its value."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.value(expression)
            if value:
                return value
            time.sleep(interval)
        raise TimeoutError(f"{expression!r} still {value!r} after {timeout} s")

    def close(self) -> None:
        self.client.stop_channels()

    def __enter__(self) -> KernelProbe:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_notebook(
    page: Any, server: JupyterServer, name: str, cells: list[str], wait_idle: bool = False
) -> None:
    """Write `cells` as notebook `name`, start its kernel, open it in JupyterLab and Run All."""
    write_notebook(server.root / name, cells)
    server.start_kernel_for(name)
    page.goto(server.lab_url(name))
    if wait_idle:
        wait_kernel_idle(page)
    run_all_cells(page)


def set_theme(page: Any, theme: str) -> None:
    """Settings → Theme → `theme`, as a person picks it."""
    page.get_by_role("menuitem", name="Settings").click()
    page.locator(".lm-Menu-itemLabel", has_text="Theme").first.hover()
    page.locator(".lm-Menu-itemLabel", has_text=theme).first.click()
    light = "false" if theme.endswith("Dark") else "true"
    page.wait_for_function(f"document.body.dataset.jpThemeLight === '{light}'")
    page.wait_for_timeout(500)  # the theme's stylesheet applies after the flag


def run_all_cells(page: Any, timeout: float = 60.0) -> None:
    """Run All via the menu bar (the same in JupyterLab 4 and Notebook 7).

    Until the notebook panel is active the menu only offers a disabled "Run All", and a Run All
    issued before the kernel's websocket is up is dropped: so it is repeated until an input
    prompt shows an execution count (or the busy "*").
    """
    started = """() => [...document.querySelectorAll('.jp-InputPrompt')]
        .some(p => /\\[(\\d+|\\*)\\]/.test(p.textContent))"""
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dismiss_kernel_dialog(page)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        item = page.get_by_role("menuitem", name="Run All Cells", exact=True)
        try:
            item.click(timeout=2_000)
            page.wait_for_function(started, timeout=5_000)
            return
        except Exception:  # playwright's TimeoutError: not ready yet
            page.keyboard.press("Escape")
            time.sleep(0.5)
    raise TimeoutError("Run All Cells did not start the notebook's cells")


def dismiss_kernel_dialog(page: Any) -> None:
    """Answer a "Select Kernel" dialog if one is showing, keeping the kernel the test started.

    On a loaded machine Lab can raise the dialog while Run All races the session hand-over
    (it then reads "No Kernel"). Its default, "Start ... Kernel", would replace the kernel that
    already ran the first cells; the "Connect to Existing ... Kernel" entry keeps it.
    """
    dialog = page.locator(".jp-Dialog")
    if not dialog.count():
        return
    print("kernel dialog:", dialog.get_by_role("button").all_inner_texts())  # shown if the test fails
    select = dialog.locator("select")
    if select.count():
        existing = select.evaluate(
            """s => [...s.querySelectorAll('option')].map(o => o.value).find(v => v.startsWith('{"id"'))"""
        )
        if existing:
            select.select_option(existing)
    dialog.get_by_role("button", name="Select").click()


def wait_kernel_idle(page: Any, timeout_ms: float = 60_000) -> None:
    """Until the page shows a live, idle kernel (Lab's status bar / Notebook 7's indicator)."""
    page.wait_for_function(
        """() => {
            const t = document.body.innerText;
            return /Python 3 \\(ipykernel\\) \\| Idle|Kernel status: Idle/.test(t)
                || !!document.querySelector('[data-status="idle"]')
                || !!document.querySelector('.jp-Notebook-ExecutionIndicator[data-status="idle"]');
        }""",
        timeout=timeout_ms,
    )
