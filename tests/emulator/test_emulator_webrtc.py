"""The emulator's WebRTC endpoints driven by aiortc as the client (no browser): client secrets,
calls, the data channel under both names, Opus audio both ways, and the keys that must be refused."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import numpy as np
import pytest
from openai import AuthenticationError, BadRequestError

from realtime_widgets.emulator.voice import speak
from tests.emulator.webrtc_client import Caller, calls_end, post_offer, rest_client, voiced_seconds

pytestmark = pytest.mark.usefixtures(calls_end.__name__)

SESSION = {"type": "realtime", "model": "gpt-realtime", "instructions": "Be brief."}


async def mint(emu, seconds: int | None = None, session: dict | None = None) -> str:
    kwargs = {"expires_after": {"anchor": "created_at", "seconds": seconds}} if seconds else {}
    async with rest_client(emu) as client:
        secret = await client.realtime.client_secrets.create(session=session or SESSION, **kwargs)
    return secret.value


async def test_client_secret_has_value_expiry_and_session(emulator):
    before = time.time()
    async with rest_client(emulator) as client:
        secret = await client.realtime.client_secrets.create(session=SESSION)
        short = await client.realtime.client_secrets.create(
            session=SESSION, expires_after={"anchor": "created_at", "seconds": 10}
        )
    assert secret.value.startswith("ek_")
    assert before + 590 <= secret.expires_at <= time.time() + 601  # the default is 600 s
    assert secret.session.type == "realtime"
    assert secret.session.instructions == "Be brief."
    assert short.expires_at <= time.time() + 11


@pytest.mark.parametrize("seconds", [9, 7201])
async def test_client_secret_expiry_out_of_range_is_a_clear_400(emulator, seconds):
    with pytest.raises(BadRequestError, match="from 10 to 7200"):
        await mint(emulator, seconds)


async def test_client_secret_refuses_a_wrong_key_and_an_ephemeral_one(emulator):
    from openai import AsyncOpenAI

    base = f"http://127.0.0.1:{emulator.port}/openai/v1"
    key = await mint(emulator)
    for credential in ("", key):
        # No credential: an empty Authorization header (the SDK insists on some key).
        headers = {} if credential else {"Authorization": ""}
        async with AsyncOpenAI(base_url=base, api_key=credential or "x", default_headers=headers) as client:
            with pytest.raises(AuthenticationError):
                await client.realtime.client_secrets.create(session=SESSION)


@pytest.mark.parametrize("label", ["oai-events", "realtime-channel"])
async def test_a_spoken_turn_over_webrtc(emulator, label):
    """session.update on the data channel, a spoken turn on the microphone track: the events arrive on
    the channel the caller opened, the reply's audio on the remote track, as long as it should be."""
    caller = await Caller.connect(emulator, await mint(emulator), label=label)
    try:
        created = await caller.until("session.created")
        assert created["session"]["instructions"] == "Be brief."  # from the client secret
        caller.send({"type": "session.update", "session": {"type": "realtime", "instructions": "Hi."}})
        assert (await caller.until("session.updated"))["session"]["instructions"] == "Hi."
        speech = speak("What is the weather like today?", "echo").audio
        caller.mic.say(speech)
        await caller.until("input_audio_buffer.speech_started")
        stopped = await caller.until("input_audio_buffer.speech_stopped")
        assert stopped["audio_end_ms"] > len(speech) / 24  # it heard the whole utterance
        started = await caller.until("output_audio_buffer.started")
        done = await caller.until("response.done")
        assert done["response"]["status"] == "completed"
        assert started["response_id"] == done["response"]["id"]
        assert "response.output_audio.delta" not in caller.types()  # the audio is on the track
        transcript = (await caller.until("response.output_audio_transcript.done"))["transcript"]
        assert transcript
        await caller.until("output_audio_buffer.stopped", timeout=30)
        assert caller.types().index("output_audio_buffer.stopped") > caller.types().index("response.done")
        reply_s = len(speak(transcript, "alloy").audio) / 24000
        heard = caller.heard_audio()
        voiced = voiced_seconds(heard)
        # eSpeak's pauses between words are unvoiced: the voiced part is most, not all, of the reply.
        assert 0.5 * reply_s <= voiced <= reply_s + 0.3, (voiced, reply_s)
        assert np.sqrt(np.mean(heard.astype(np.float64) ** 2)) > 100
    finally:
        await caller.close()


async def test_an_expired_or_wrong_key_gets_401_on_calls(emulator):
    caller = Caller("oai-events")
    try:
        await caller.pc.setLocalDescription(await caller.pc.createOffer())
        sdp = caller.pc.localDescription.sdp
        status, text, _ = await post_offer(emulator, "ek_not-a-key", sdp)
        assert status == 401 and "ephemeral key" in text
        key = await mint(emulator, seconds=10)
        emulator_calls = _calls(emulator)
        emulator_calls.secrets[key].expires_at = time.time() - 1  # ten seconds, passed
        status, text, _ = await post_offer(emulator, key, sdp)
        assert status == 401 and "expired" in text
        status, text, _ = await post_offer(emulator, await mint(emulator), "hello")
        assert status == 400 and "SDP offer" in text
    finally:
        await caller.close()


def _calls(emu):
    from realtime_widgets.emulator.calls import CALLS_KEY

    return emu._runner.app[CALLS_KEY]


async def test_the_sdk_calls_create_with_the_resource_key(emulator):
    """OpenAI's unified interface: a server posts the offer (multipart `sdp` + `session`) with its key."""
    caller = Caller("oai-events")
    try:
        await caller.pc.setLocalDescription(await caller.pc.createOffer())
        async with rest_client(emulator) as client:
            answer = await client.realtime.calls.create(
                sdp=caller.pc.localDescription.sdp, session={"type": "realtime", "instructions": "Unified."}
            )
        sdp = answer.text
        assert sdp.startswith("v=0") and "a=sendrecv" in sdp
        from aiortc import RTCSessionDescription

        await caller.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        await asyncio.wait_for(caller.opened.wait(), 10)
        assert (await caller.until("session.created"))["session"]["instructions"] == "Unified."
    finally:
        await caller.close()


async def test_the_index_lists_the_webrtc_endpoints(emulator):
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{emulator.port}/") as r:
        body = await r.json()
    assert body["webrtc"]["calls"].startswith("POST /openai/v1/realtime/calls")


async def test_a_page_from_another_origin_may_post_and_read_the_location(emulator):
    """The browser preflights the offer (Authorization and application/sdp are not simple) and must be
    allowed to read `Location`, or the page could not learn its call id."""
    url = f"http://127.0.0.1:{emulator.port}/openai/v1/realtime/calls"
    preflight = {
        "Origin": "http://localhost:8888",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    async with aiohttp.ClientSession() as http:
        async with http.options(url, headers=preflight) as r:
            assert r.status == 204
            assert r.headers["Access-Control-Allow-Origin"] == "*"
            assert "Authorization" in r.headers["Access-Control-Allow-Headers"]
            assert "POST" in r.headers["Access-Control-Allow-Methods"]
        headers = {"Origin": "http://localhost:8888", "Authorization": "Bearer ek_nope"}
        async with http.post(url, data="v=0", headers=headers) as r:
            assert r.status == 401 and r.headers["Access-Control-Allow-Origin"] == "*"
    caller = Caller("oai-events")
    try:
        await caller.pc.setLocalDescription(await caller.pc.createOffer())
        status, sdp, headers = await post_offer(
            emulator, await mint(emulator), caller.pc.localDescription.sdp
        )
        assert status == 201 and headers["Access-Control-Expose-Headers"] == "Location"
        from aiortc import RTCSessionDescription

        await caller.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        await asyncio.wait_for(caller.opened.wait(), 10)  # connected, so closing it ends the call
    finally:
        await caller.close()


async def test_a_call_that_never_connects_is_given_up(emulator, monkeypatch):
    from realtime_widgets.emulator import webrtc_call

    monkeypatch.setattr(webrtc_call, "CONNECT_TIMEOUT_S", 1.0)
    before = _calls(emulator).live.copy()
    caller = Caller("oai-events")
    await caller.pc.setLocalDescription(await caller.pc.createOffer())
    status, _, headers = await post_offer(emulator, await mint(emulator), caller.pc.localDescription.sdp)
    await caller.close()  # the page goes away before ICE completes
    call_id = headers["Location"].rsplit("/", 1)[-1]
    assert status == 201 and call_id in _calls(emulator).live
    for _ in range(50):
        if call_id not in _calls(emulator).live:
            break
        await asyncio.sleep(0.1)
    assert call_id not in _calls(emulator).live and set(_calls(emulator).live) <= set(before)
