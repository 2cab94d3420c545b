"""G.711 formats, semantic VAD, audio items created directly, per-response voice."""

from __future__ import annotations

import base64

import numpy as np
from emu_helpers import b64, ga_url, preview_url, raw_connect, rms

from realtime_widgets.emulator import synthesize
from realtime_widgets.emulator.g711 import decode, encode
from realtime_widgets.protocol import OUTPUT_DELTA_BYTES


async def test_g711_in_and_out(emulator):
    emulator.reply = lambda text, seconds: f"heard {seconds:.1f} s"
    c = await raw_connect(preview_url(emulator))
    await c.send(
        {
            "type": "session.update",
            "session": {
                "turn_detection": None,
                "input_audio_format": "g711_ulaw",
                "output_audio_format": "g711_alaw",
            },
        }
    )
    await c.until("session.updated")
    clip = synthesize("one two three", "verse")
    ulaw = encode(clip, "ulaw")
    await c.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(ulaw).decode()})
    await c.send({"type": "input_audio_buffer.commit"})
    await c.send({"type": "response.create"})
    events = await c.until("response.done")
    deltas = [base64.b64decode(e["delta"]) for e in events if e["type"] == "response.audio.delta"]
    # Same 100/150/250 ms pacing as PCM16, at one byte per 8 kHz sample.
    assert [len(d) for d in deltas[:3]] == [n // 6 for n in OUTPUT_DELTA_BYTES]
    audio = decode(b"".join(deltas), "alaw")
    assert rms(audio) > 500
    assert (
        events[-1]["response"]["output"][0]["content"][0]["transcript"] == f"heard {len(ulaw) / 8000:.1f} s"
    )
    await c.ws.close()


async def test_semantic_vad_ends_turn(emulator):
    c = await raw_connect(ga_url(emulator))
    td = {"type": "semantic_vad", "eagerness": "high", "create_response": False}
    await c.send(
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"input": {"turn_detection": td}}},
        }
    )
    ok = await c.until("session.updated")
    assert ok[-1]["session"]["audio"]["input"]["turn_detection"]["eagerness"] == "high"
    clip = synthesize("semantic", "alloy")
    await c.append(np.concatenate([np.zeros(4800, np.int16), clip, np.zeros(12000, np.int16)]))
    types = [e["type"] for e in await c.sync()]
    assert types.index("input_audio_buffer.speech_started") < types.index("input_audio_buffer.committed")
    assert "response.created" not in types
    await c.ws.close()


async def test_audio_item_and_response_voice(emulator):
    emulator.reply = lambda text, seconds: f"clip of {seconds:.2f} s"
    clip = synthesize("direct item", "marin")
    c = await raw_connect(ga_url(emulator))
    item = {"type": "message", "role": "user", "content": [{"type": "input_audio", "audio": b64(clip)}]}
    await c.send({"type": "conversation.item.create", "item": item})
    added = (await c.until("conversation.item.added"))[-1]
    assert added["item"]["content"][0]["type"] == "input_audio"
    voices = {}
    for voice in ("shimmer", "cedar"):
        await c.send({"type": "response.create", "response": {"audio": {"output": {"voice": voice}}}})
        events = await c.until("response.done")
        voices[voice] = np.frombuffer(
            b"".join(
                base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"
            ),
            "<i2",
        )
        assert events[-1]["response"]["output"][0]["content"][0]["transcript"].startswith("clip of")
    assert not np.array_equal(voices["shimmer"][:4800], voices["cedar"][:4800])
    await c.send({"type": "response.create", "response": {"audio": {"output": {"voice": "nobody"}}}})
    assert (await c.until("error"))[-1]["error"]["param"] == "response.voice"
    await c.ws.close()


async def test_idle_timeout_triggers_a_response(emulator):
    c = await raw_connect(ga_url(emulator))
    td = {"type": "server_vad", "idle_timeout_ms": 5000}
    await c.send(
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"input": {"turn_detection": td}}},
        }
    )
    await c.until("session.updated")
    await c.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
    await c.until("response.done")
    await c.append(np.zeros(24_000 * 4, np.int16))
    assert "input_audio_buffer.timeout_triggered" not in [e["type"] for e in await c.sync()]
    await c.append(np.zeros(24_000 * 2, np.int16))
    events = await c.until("response.done")
    trig = next(e for e in events if e["type"] == "input_audio_buffer.timeout_triggered")
    assert trig["audio_end_ms"] - trig["audio_start_ms"] >= 5000
    assert events[-1]["response"]["output"][0]["content"][0]["transcript"] == "I did not receive any input."
    await c.ws.close()
