"""WebRTCCall's kernel side without a browser: what it sends the page, and what it makes of the page's
messages (the browser half is tests/browser/test_browser_webrtc_call.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from page_messages import page_sends, sent_to_page

from realtime_widgets.errors import WebRTCCallFailed
from realtime_widgets.widgets import WebRTCCall


@dataclass
class Secret:
    value: str
    calls_url: str


SECRET = Secret("ek_test", "http://127.0.0.1:1/openai/v1/realtime/calls?webrtcfilter=on")


def test_dial_without_a_page_says_webrtc_needs_a_browser_and_offers_the_websocket(front_end) -> None:
    call = WebRTCCall()
    with pytest.raises(
        WebRTCCallFailed, match=r"needs the notebook open in a browser.*transport='websocket'"
    ):
        call.dial(SECRET)
    assert sent_to_page(call) == []  # the key went nowhere


def test_the_key_travels_in_the_dial_message_only(front_end) -> None:
    call = WebRTCCall(in_browser=True)
    call.dial(SECRET)
    call.mute(False)
    call.hangup()
    assert [m["kind"] for m in sent_to_page(call)] == ["dial", "mute", "hangup"]
    assert sent_to_page(call, "dial") == [{"kind": "dial", "url": SECRET.calls_url, "secret": "ek_test"}]
    assert "ek_test" not in repr(call.get_state())


async def test_the_call_id_and_the_connected_state_resolve_the_waits(front_end) -> None:
    call = WebRTCCall(in_browser=True)
    call.dial(SECRET)
    page_sends(call, {"kind": "state", "state": "dialing", "reason": ""})
    page_sends(call, {"kind": "call", "call_id": "rtc_abc"})
    assert await call.wait_for_call(1) == "rtc_abc" and call.call_id == "rtc_abc"
    page_sends(call, {"kind": "state", "state": "connected", "reason": ""})
    await call.wait_connected(1)
    assert call.state == "connected"


async def test_a_refused_offer_fails_the_wait_with_the_page_reason_and_the_fallback(front_end) -> None:
    call = WebRTCCall(in_browser=True)
    seen: list[tuple[str, str]] = []
    call.on_state(lambda state, reason: seen.append((state, reason)))
    call.dial(SECRET)
    page_sends(call, {"kind": "state", "state": "failed", "reason": "the service refused the offer: 401"})
    with pytest.raises(WebRTCCallFailed, match=r"WebRTC could not connect \(the service refused") as info:
        await call.wait_for_call(1)
    assert info.value.reason == "the service refused the offer: 401"
    assert "transport='websocket'" in str(info.value)
    assert seen == [("failed", "the service refused the offer: 401")]


async def test_silence_from_the_page_is_a_bounded_wait(front_end) -> None:
    call = WebRTCCall(in_browser=True)
    call.dial(SECRET)
    with pytest.raises(WebRTCCallFailed, match="no word from the page for 0.2 s"):
        await call.wait_connected(0.2)


def test_taps_reach_the_sinks_in_order_and_a_gap_is_counted(front_end) -> None:
    call = WebRTCCall()
    got: list[tuple[str, int, float | None]] = []
    call.on_tap(lambda side, pcm, at: got.append((side, int(pcm[0]), at)))
    for seq, value in ((0, 5), (1, 6), (3, 8)):
        pcm = np.full(2400, value, dtype="<i2").tobytes()
        page_sends(call, {"kind": "tap", "side": "output", "seq": seq, "t": 1000.0 * seq}, [memoryview(pcm)])
    page_sends(call, {"kind": "tap", "side": "input", "seq": 0}, [memoryview(b"\x01\x00" * 2400)])
    # `at` counts 100 ms chunks, so the lost #2 keeps its place for tap_audio
    assert got == [("output", 5, 0.0), ("output", 6, 0.1), ("output", 8, 0.3), ("input", 1, 0.0)]
    assert call.taps_lost == {"input": 0, "output": 1}
    assert call.taps_received == {"input": 1, "output": 3}
