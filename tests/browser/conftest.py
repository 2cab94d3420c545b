"""Fixtures for the real-browser tests: one JupyterLab server and one Chromium per session."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from browser_harness import CHROMIUM, REPO, JupyterServer, chromium_args, make_fake_mic_wav  # noqa: E402

ARTIFACTS = REPO / "artifacts"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is absent: install Debian's chromium (make system-deps)")
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)
            if not CHROMIUM.exists():
                item.add_marker(skip)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    # Lets fixtures see whether the test failed (for the failure screenshot).
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def fake_mic_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fake_mic_wav(tmp_path_factory.mktemp("mic") / "speech-48k.wav")


@pytest.fixture(scope="session")
def jupyter_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    server = JupyterServer(root=tmp_path_factory.mktemp("jupyter") / "root").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def mic_wav(fake_mic_wav: Path) -> Path:
    """What the fake microphone plays; a test module may override this fixture."""
    return fake_mic_wav


# Module scope: Playwright's sync API keeps an event loop running in this thread while it lives,
# which would stop pytest-asyncio from running the async tests that follow.
@pytest.fixture(scope="module")
def chromium(mic_wav: Path) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=chromium_args(mic_wav))
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(request: pytest.FixtureRequest, chromium, jupyter_server: JupyterServer) -> Iterator[object]:
    """A fresh browser context (own storage) per test; its kernels are shut down afterwards."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, permissions=["microphone"])
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    except BaseException:
        raise
    finally:
        if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"failed-{request.node.name}.png"))
            print("outputs:", page.locator(".jp-OutputArea-output").all_inner_texts())
            print(jupyter_server.log_tail(3000))
        context.close()
        jupyter_server.shutdown_kernels()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
