"""WebRTCCall in JupyterLab and real Chromium against the in-kernel emulator, the kernel half done by
hand in the notebook (mint an ephemeral key with the SDK, dial): the page's call connects, Record
unmutes the fake microphone, the reply plays and both taps reach the kernel; ICE that cannot connect
and an expired key each end in "failed" with words offering the WebSocket, within a bounded time."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from browser_harness import KernelProbe, open_notebook
from webrtc_pages import BLOCK_ICE, question_then_quiet


@pytest.fixture(scope="module")
def mic_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return question_then_quiet(tmp_path_factory.mktemp("mic") / "question.wav")


CELLS = [
    """\
from types import SimpleNamespace
import numpy as np
from openai import OpenAI
from realtime_widgets import Emulator, WebRTCCall

emu = Emulator.shared()
sdk = OpenAI(base_url=emu.endpoint + "/openai/v1", api_key=emu.api_key)
taps = {"input": [], "output": []}
states = []
call = WebRTCCall(ice_timeout_ms=ICE_TIMEOUT_MS)
call.on_tap(lambda side, pcm, at: taps[side].append(pcm))
call.on_state(lambda state, reason: states.append((state, reason)))

def mint(seconds=600):
    return sdk.realtime.client_secrets.create(
        session={"type": "realtime", "model": "gpt-realtime"}, expires_after={"anchor": "created_at", "seconds": seconds}
    ).value

def dial(key):
    call.dial(SimpleNamespace(value=key, calls_url=emu.endpoint + "/openai/v1/realtime/calls?webrtcfilter=on"))
    return True

def peak(side):
    return int(max((np.abs(p.astype(np.int32)).max() for p in taps[side] if p.size), default=0))
call""",
]

TAPS = "dict(state=call.state, input=len(taps['input']), output=len(taps['output']), in_peak=peak('input'), out_peak=peak('output'), lost=call.taps_lost, speaking=call.speaking)"


def _cells(ice_timeout_ms: int) -> list[str]:
    return [CELLS[0].replace("ICE_TIMEOUT_MS", str(ice_timeout_ms))]


def test_the_page_calls_records_and_taps_both_sides(page, jupyter_server, artifacts) -> None:
    name = "webrtc_call.ipynb"
    open_notebook(page, jupyter_server, name, _cells(10_000))
    record = page.get_by_role("button", name="Record")
    record.wait_for(timeout=60_000)
    assert record.is_disabled()  # nothing to record into before the call connects
    with KernelProbe(jupyter_server, name) as probe:
        probe.wait_for("call.in_browser", timeout=30)
        probe.value("dial(mint())")
        page.locator('.rw-call-state[data-state="connected"]').wait_for(timeout=20_000)
        assert probe.value("call.call_id").startswith("rtc_")
        # Muted until Record: the service hears silence, the input tap carries it.
        probe.wait_for("len(taps['input']) >= 5", timeout=10)
        assert probe.value("peak('input')") < 300
        record.click()
        page.get_by_role("button", name="Stop").wait_for()
        # The service's output_audio_buffer.started, on the page's data channel, lights "speaking".
        try:
            page.locator(".rw-call-speaking", has_text="Model: speaking").wait_for(timeout=40_000)
        except Exception:
            print("kernel:", probe.value(TAPS))  # e.g. out_peak 0: the emulator never answered
            raise
        page.locator(".rw-call").screenshot(path=str(artifacts / "webrtc_call_speaking.png"))
        state = probe.wait_for(f"(lambda s: s if s['out_peak'] > 3000 else None)({TAPS})", timeout=20)
        page.get_by_role("button", name="Stop").click()
        assert probe.wait_for("call.muted", timeout=5)
        assert state["in_peak"] > 3000  # the fake microphone's speech, tapped from the track
        assert state["lost"] == {"input": 0, "output": 0}
        # 100 ms chunks at 24 kHz, input and output in step (both run on the one tap context)
        assert probe.value("sorted({p.size for s in taps.values() for p in s})") == [2400]
        assert abs(state["input"] - state["output"]) <= 10, state
        probe.value("call.hangup()")
        page.locator('.rw-call-state[data-state="closed"]').wait_for(timeout=10_000)
        # (the page shows "closed" before its message reaches the kernel)
        assert probe.wait_for("states[-1][0] == 'closed' and states[-1]", timeout=10) == ["closed", "hung up"]
        assert record.is_disabled()
    page.screenshot(path=str(artifacts / "webrtc_call.png"))


def test_blocked_ice_and_an_expired_key_fail_in_bounded_time_offering_the_websocket(
    page, jupyter_server, artifacts
) -> None:
    page.context.add_init_script(BLOCK_ICE)
    name = "webrtc_call_blocked.ipynb"
    open_notebook(page, jupyter_server, name, _cells(4_000))
    with KernelProbe(jupyter_server, name) as probe:
        probe.wait_for("call.in_browser", timeout=60)
        probe.value("globals().update(short=mint(10))")  # expires while ICE fails below
        started = time.monotonic()
        probe.value("dial(mint())")
        reason = page.locator('.rw-call-reason[data-kind="error"]')
        reason.wait_for(timeout=15_000)
        elapsed = time.monotonic() - started
        assert probe.value("call.state") == "failed"
        assert elapsed < 12, elapsed  # 4 s ICE timeout, and a busy machine's margin
        assert "ICE" in reason.inner_text() and "UDP" in reason.inner_text()
        page.locator(".rw-call").screenshot(path=str(artifacts / "webrtc_call_ice_failed.png"))
        with pytest.raises(RuntimeError, match="transport='websocket'"):
            probe.value("await call.wait_connected(1)")

        # The service refuses an offer made with an expired ephemeral key: failed at once, in words.
        time.sleep(max(0.0, started + 11 - time.monotonic()))
        probe.value("dial(short)")
        page.locator(".rw-call-reason", has_text="ephemeral key has expired").wait_for(timeout=10_000)
        assert probe.value("states[-1]")[0] == "failed"
        assert "401" in probe.value("call.reason")
        page.locator(".rw-call").screenshot(path=str(artifacts / "webrtc_call_refused.png"))
