"""`create_client_secret` (issue 13): the kernel mints the page's ephemeral key through the official SDK,
with the resource key or an Entra token; the key opens a call at `calls_url`, expires, and never shows
(not in repr, not in DEBUG logs)."""

from __future__ import annotations

import asyncio
import logging
import time
import warnings

import aiohttp
import pytest
from aiortc import RTCSessionDescription

from realtime_widgets import (
    ClientSecret,
    ConfigurationError,
    ConnectionConfig,
    ConnectionFailed,
    SessionConfig,
    create_client_secret,
)
from realtime_widgets.config import entra_token_provider
from realtime_widgets.emulator import Emulator
from realtime_widgets.emulator.calls import CALLS_KEY
from realtime_widgets.log_redaction import REDACTED
from tests.emulator.webrtc_client import Caller, calls_end

pytestmark = pytest.mark.usefixtures(calls_end.__name__)
API_KEY = "sk-webrtc-test-0123456789"


@pytest.fixture(scope="module")
def keyed_emulator():
    with Emulator(api_key=API_KEY, recognize=False) as emu:
        yield emu


async def _post_offer(secret: ClientSecret, caller: Caller) -> tuple[int, str, dict[str, str]]:
    """What the page does: POST the raw SDP offer to `calls_url`, bearer the ephemeral key."""
    await caller.pc.setLocalDescription(await caller.pc.createOffer())
    headers = {"Authorization": f"Bearer {secret.value}", "Content-Type": "application/sdp"}
    async with aiohttp.ClientSession() as http:
        async with http.post(secret.calls_url, data=caller.pc.localDescription.sdp, headers=headers) as r:
            return r.status, await r.text(), dict(r.headers)


async def test_the_key_opens_a_call_with_the_session_config(emulator, caplog):
    caplog.set_level(logging.DEBUG)
    connection = ConnectionConfig.for_emulator(emulator)
    before = time.time()
    secret = await create_client_secret(connection, SessionConfig(instructions="Be terse.", voice="ash"))
    assert secret.value.startswith("ek_") and secret.value not in repr(secret)
    assert before + 590 <= secret.expires_at <= time.time() + 601 and secret.expires_in > 590
    assert secret.calls_url == f"{emulator.endpoint}/openai/v1/realtime/calls?webrtcfilter=on"
    unfiltered = await create_client_secret(connection, expires_after=60, filtered=False)
    assert unfiltered.calls_url.endswith("/realtime/calls") and unfiltered.expires_in <= 61
    caller = Caller("realtime-channel")
    try:
        status, answer, headers = await _post_offer(unfiltered, caller)
        assert status == 201 and headers["Location"].rsplit("/", 1)[-1].startswith("rtc_")
        await caller.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await asyncio.wait_for(caller.opened.wait(), 10)
        created = await caller.until("session.created")
        assert created["session"]["model"] == connection.deployment
    finally:
        await caller.close()
    filtered = Caller("oai-events")
    try:
        status, answer, headers = await _post_offer(secret, filtered)
        assert status == 201  # the filtered page gets no session.created: checked on the sideband
        await filtered.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await asyncio.wait_for(filtered.opened.wait(), 10)
        call_id = headers["Location"].rsplit("/", 1)[-1]
        session = emulator._runner.app[CALLS_KEY].live[call_id].session.session
        assert session["instructions"] == "Be terse." and session["audio"]["output"]["voice"] == "ash"
    finally:
        await filtered.close()
    # DEBUG logs of httpx / openai saw the requests; none holds the ephemeral key.
    assert any(r.name.startswith(("httpx", "openai")) for r in caplog.records)
    logging.getLogger("httpx").debug("response body: %s", {"value": secret.value})
    assert not [r.getMessage() for r in caplog.records if secret.value in r.getMessage()]
    assert caplog.records[-1].getMessage() == f"response body: {{'value': '{REDACTED}'}}"


async def test_an_expired_key_is_refused_with_401(emulator):
    secret = await create_client_secret(ConnectionConfig.for_emulator(emulator), expires_after=10)
    emulator._runner.app[CALLS_KEY].secrets[secret.value].expires_at = time.time() - 1  # 10 s passed
    caller = Caller("oai-events")
    try:
        status, text, _ = await _post_offer(secret, caller)
    finally:
        await caller.close()
    assert status == 401 and "expired" in text


async def test_entra_token_and_wrong_key(keyed_emulator, monkeypatch):
    for name, value in keyed_emulator.identity_env().items():
        monkeypatch.setenv(name, value)
    provider = entra_token_provider()
    issued: list[str] = []

    def token() -> str:
        issued.append(provider())
        return issued[-1]

    keyless = ConnectionConfig(
        endpoint=keyed_emulator.endpoint, deployment=keyed_emulator.deployment, token_provider=token
    )
    secret = await create_client_secret(keyless)
    assert secret.value.startswith("ek_") and issued and issued[0].startswith("emulator-mi-")
    wrong = ConnectionConfig(
        endpoint=keyed_emulator.endpoint, deployment="gpt-realtime", api_key="sk-wrong-key-123"
    )
    with pytest.raises(ConnectionFailed) as info:
        await create_client_secret(wrong)
    assert info.value.status == 401 and "sk-wrong-key-123" not in str(info.value)
    assert "create client secrets with the resource's API key" in str(info.value)  # the service's words


async def test_preview_protocol_and_bad_expiry_are_clear_errors(emulator):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the preview protocol's retirement notice
        preview = ConnectionConfig.for_emulator(emulator, protocol="preview")
    with pytest.raises(ConfigurationError, match="WebRTC needs the GA protocol"):
        await create_client_secret(preview)
    ga = ConnectionConfig.for_emulator(emulator)
    with pytest.raises(ValueError, match="10 to 7200"):
        await create_client_secret(ga, expires_after=5)
    with pytest.raises(ConfigurationError, match="type='realtime'"):
        await create_client_secret(ga, SessionConfig(type="transcription", transcription_model="whisper-1"))
