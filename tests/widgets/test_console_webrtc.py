"""RealtimeConsole(transport="webrtc") without a browser: its arguments, the wait for a page, the one
dial message with a freshly minted ephemeral key, and a failed call told on the status line
(the browser tests drive a real call: tests/browser/test_browser_console_webrtc*.py)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from page_messages import page_sends, sent_to_page

from realtime_widgets.config import ConnectionConfig
from realtime_widgets.errors import CallAudioError, WebRTCCallFailed
from realtime_widgets.session import RealtimeSession
from realtime_widgets.widgets import MicRecorder, RealtimeConsole, WebRTCCall


def test_the_transport_is_checked_and_websocket_is_the_default(emulator) -> None:
    connection = ConnectionConfig.for_emulator(emulator)
    with pytest.raises(ValueError, match="'websocket' .* or 'webrtc'"):
        RealtimeConsole(connection, transport="udp")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="session of its own"):
        RealtimeConsole(session=RealtimeSession(connection), transport="webrtc")
    console = RealtimeConsole(connection)
    assert console.transport == "websocket" and console.call is None
    assert any(isinstance(part, MicRecorder) for part in console.children[1].children)


async def test_without_a_page_it_waits_and_says_so_and_say_points_to_record(emulator, front_end) -> None:
    console = RealtimeConsole(ConnectionConfig.for_emulator(emulator), transport="webrtc")
    try:
        assert console.call is not None and console.call.widget in console.children[1].children
        await asyncio.sleep(0.5)
        assert "Waiting for the page" in console.status.value
        assert sent_to_page(console.call.widget) == []  # no key minted, nothing sent
        with pytest.raises(CallAudioError, match="press Record.*transport='websocket'"):
            await console.say(np.zeros(2400, np.int16))
        with pytest.raises(asyncio.TimeoutError):
            await console.ready(timeout=0.3)
    finally:
        await console.close()


async def test_a_page_gets_one_dial_with_an_ephemeral_key_and_a_refusal_offers_the_websocket(
    emulator, front_end
) -> None:
    connection = ConnectionConfig.for_emulator(emulator)
    console = RealtimeConsole(connection, transport="webrtc")
    call: WebRTCCall = console.call.widget  # type: ignore[union-attr]
    try:
        call.in_browser = True  # what the page's front end sets when it starts
        for _ in range(200):
            if sent_to_page(call, "dial"):
                break
            await asyncio.sleep(0.05)
        (dial,) = sent_to_page(call, "dial")
        assert dial["url"] == f"{emulator.endpoint}/openai/v1/realtime/calls?webrtcfilter=on"
        assert dial["secret"].startswith("ek_") and dial["secret"] != connection.api_key
        page_sends(call, {"kind": "state", "state": "failed", "reason": "the service refused the offer: 401"})
        with pytest.raises(WebRTCCallFailed):
            await console.ready(timeout=5)
        status = console.status.value
        assert "WebRTC could not connect (the service refused the offer: 401)" in status
        assert "RealtimeConsole(transport=&#x27;websocket&#x27;)" in status
        assert console.session.status != "connected"
    finally:
        await console.close()
