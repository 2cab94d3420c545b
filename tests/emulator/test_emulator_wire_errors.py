"""Malformed client events, handshake errors as Azure gives them, and each injected fault."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import pytest
import websockets
from emu_helpers import ga_url, preview_url, raw_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from realtime_widgets.emulator import Emulator


@pytest.fixture(scope="module")
def locked():
    """An emulator that accepts one key and two deployments."""
    with Emulator(api_key="sekret-key", deployments=["dep-a", "dep-b"]) as emu:
        yield emu


MALFORMED = [
    ("not json at all", "invalid_json", None),
    (json.dumps([1, 2, 3]), "invalid_type", None),
    (json.dumps({"type": "no.such.event"}), "invalid_value", "type"),
    (json.dumps({"type": "input_audio_buffer.append", "audio": 123}), "invalid_type", "audio"),
    (json.dumps({"type": "input_audio_buffer.append", "audio": "!!not base64!!"}), "invalid_value", "audio"),
    (
        json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(b"abc").decode()}),
        "invalid_value",
        "audio",
    ),
    (json.dumps({"type": "conversation.item.create", "item": "hello"}), "invalid_type", "item"),
    (
        json.dumps(
            {
                "type": "session.update",
                "session": {"type": "realtime", "audio": {"output": {"voice": "nobody"}}},
            }
        ),
        "invalid_value",
        "session.audio.output.voice",
    ),
    (
        json.dumps({"type": "conversation.item.truncate", "item_id": "missing", "audio_end_ms": 10}),
        "item_not_found",
        "item_id",
    ),
]


async def test_malformed_events_get_errors_and_connection_survives(emulator):
    c = await raw_connect(ga_url(emulator))
    for text, code, param in MALFORMED:
        await c.send(text)
        ev = await c.recv()
        assert ev["type"] == "error", text
        assert ev["error"]["code"] == code, (text, ev)
        assert ev["error"]["param"] == param, (text, ev)
        assert ev["error"]["message"]
    await c.ws.send(b"\x00\x01binary")
    assert (await c.recv())["type"] == "error"
    await c.send({"type": "session.update", "session": {"type": "realtime", "instructions": "still here"}})
    ok = await c.recv()
    assert ok["type"] == "session.updated" and ok["session"]["instructions"] == "still here"
    await c.ws.close()


async def test_preview_session_rules(emulator):
    c = await raw_connect(preview_url(emulator))
    await c.send({"type": "session.update", "session": {"temperature": 2.0}})
    err = await c.recv()
    assert err["type"] == "error" and err["error"]["param"] == "session.temperature"
    await c.send({"type": "session.update", "session": {"output_modalities": ["audio"]}})
    assert (await c.recv())["error"]["param"] == "session.output_modalities"
    await c.send(
        {"type": "session.update", "session": {"turn_detection": {"type": "none"}, "modalities": ["text"]}}
    )
    ok = await c.recv()
    assert ok["type"] == "session.updated" and ok["session"]["turn_detection"] == {"type": "none"}
    await c.ws.close()


async def status_of(url: str, headers: dict[str, str]) -> tuple[int, dict, dict]:
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(url, additional_headers=headers):
            pass
    resp = info.value.response
    return resp.status_code, dict(resp.headers), json.loads(resp.body or b"{}")


async def test_handshake_errors(locked):
    url = ga_url(locked, "dep-a")
    code, _, body = await status_of(url, {})
    assert code == 401 and body["error"]["code"] == "401"
    code, _, _ = await status_of(url, {"api-key": "wrong"})
    assert code == 401
    code, _, body = await status_of(ga_url(locked, "dep-z"), {"api-key": "sekret-key"})
    assert code == 404 and body["error"]["code"] == "DeploymentNotFound"
    code, _, body = await status_of(preview_url(locked, "dep-a", version=None), {"api-key": "sekret-key"})
    assert code == 400 and "api-version" in body["error"]["message"]
    code, _, _ = await status_of(
        preview_url(locked, "dep-a", version="1999-01-01"), {"api-key": "sekret-key"}
    )
    assert code == 400
    # The right key works as api-key header and as a bearer token.
    c = await raw_connect(preview_url(locked, "dep-b"), key="sekret-key")
    await c.ws.close()
    async with websockets.connect(url, additional_headers={"Authorization": "Bearer sekret-key"}) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"


async def test_fault_handshake_429(emulator):
    emulator.faults.handshake_429 = 1
    emulator.faults.retry_after_s = 7
    code, headers, _ = await status_of(ga_url(emulator), {"api-key": "k"})
    assert code == 429 and headers["retry-after"] == "7"
    c = await raw_connect(ga_url(emulator))  # the count is used up: the next one is accepted
    await c.ws.close()


async def test_fault_drop_after_events(emulator):
    emulator.faults.drop_after_events = 3
    c = await raw_connect(ga_url(emulator))  # event 1: session.created
    await c.send({"type": "session.update", "session": {"type": "realtime"}})  # event 2
    await c.send({"type": "response.create"})  # event 3 is response.created, then the socket dies
    assert (await c.recv())["type"] == "session.updated"
    assert (await c.recv())["type"] == "response.created"
    with pytest.raises(ConnectionClosed) as info:
        await c.recv()
    assert info.value.rcvd is None  # no close frame: a network drop, not a clean close


async def test_fault_event_delay(emulator):
    emulator.faults.event_delay_ms = 150
    c = await raw_connect(ga_url(emulator))
    t0 = time.monotonic()
    await c.send({"type": "session.update", "session": {"type": "realtime"}})
    await c.until("session.updated")
    assert time.monotonic() - t0 >= 0.14
    await c.ws.close()


async def test_fault_max_session_seconds(emulator):
    emulator.faults.max_session_seconds = 0.3
    c = await raw_connect(preview_url(emulator))
    err = await c.recv(5)
    assert err["type"] == "error" and err["error"]["code"] == "session_expired"
    with pytest.raises(ConnectionClosed):
        await c.recv(5)
    assert c.ws.close_code == 1001
    assert "maximum duration" in c.ws.close_reason
    await asyncio.sleep(0.05)
    assert emulator.live_sessions == 0


async def test_random_field_values_never_break_the_server(emulator):
    import random

    from realtime_widgets.protocol import CLIENT_EVENTS

    values = [None, 1, -5, 3.5, "x", "", [], {}, [1], {"a": 1}, True, "AAAA", "root", {"type": "message"}]
    fields = [
        "session",
        "audio",
        "item",
        "item_id",
        "previous_item_id",
        "audio_end_ms",
        "content_index",
        "response",
        "event_id",
    ]
    rng = random.Random(7)
    emulator.faults.reset()
    emulator.reply = lambda text, seconds: "ok"
    for url in (ga_url(emulator), preview_url(emulator)):
        c = await raw_connect(url)
        for _ in range(300):
            event = {"type": rng.choice(CLIENT_EVENTS)}
            for field in rng.sample(fields, 3):
                event[field] = rng.choice(values)
            await c.send(event)
        events = await c.sync()
        crashes = [e for e in events if e["type"] == "error" and e["error"]["code"] == "server_error"]
        assert not crashes, crashes[:3]
        await c.send({"type": "session.update", "session": {"type": "realtime"} if "v1" in url else {}})
        assert (await c.until("session.updated"))[-1]["type"] == "session.updated"
        await c.ws.close()
