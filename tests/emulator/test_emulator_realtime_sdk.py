"""The official openai SDK against the emulator, both URL shapes, exactly as the quickstarts connect."""

from __future__ import annotations

import base64

import numpy as np
from emu_helpers import ga_connect, preview_connect, rms

from realtime_widgets.protocol import OUTPUT_DELTA_BYTES, SAMPLE_RATE


async def collect(conn, until: str = "response.done") -> list:
    out = []
    async for ev in conn:
        out.append(ev)
        if ev.type == until:
            return out
    raise AssertionError(f"connection ended before {until}")


async def test_ga_text_in_audio_out(emulator):
    async with ga_connect(emulator) as conn:
        first = await conn.recv()
        assert first.type == "session.created"
        assert first.session.type == "realtime"
        await conn.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "good morning"}],
            }
        )
        await conn.response.create()
        events = await collect(conn)
    types = [e.type for e in events]
    assert types[0] == "session.updated"
    assert "conversation.item.added" in types and "conversation.item.done" in types
    order = [
        "response.created",
        "rate_limits.updated",  # the service reports rate limits as a response starts
        "response.output_item.added",
        "response.content_part.added",
        "response.output_audio.delta",
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.done",
    ]
    assert [types.index(t) for t in order] == sorted(types.index(t) for t in order)
    deltas = [base64.b64decode(e.delta) for e in events if e.type == "response.output_audio.delta"]
    sizes = [len(d) for d in deltas]
    assert sizes[:3] == list(OUTPUT_DELTA_BYTES)
    assert all(s == OUTPUT_DELTA_BYTES[-1] for s in sizes[3:-1]) and 0 < sizes[-1] <= OUTPUT_DELTA_BYTES[-1]
    # Transcript deltas interleave with audio instead of arriving all at once.
    first_audio = types.index("response.output_audio.delta")
    tr = [i for i, t in enumerate(types) if t == "response.output_audio_transcript.delta"]
    assert tr[0] < first_audio < tr[-1]
    transcript = "".join(e.delta for e in events if e.type == "response.output_audio_transcript.delta")
    assert transcript == "You said: good morning"
    done = events[types.index("response.output_audio_transcript.done")]
    assert done.transcript == transcript
    audio = np.frombuffer(b"".join(deltas), "<i2")
    words = len(transcript.split())
    assert len(audio) / SAMPLE_RATE > 0.04 * words
    assert rms(audio) > 500
    resp = events[types.index("response.done")].response
    assert resp.status == "completed"
    assert resp.output[0].content[0].type == "output_audio"
    assert resp.output[0].content[0].transcript == transcript
    assert resp.usage.output_token_details.audio_tokens > 0
    assert resp.usage.total_tokens == resp.usage.input_tokens + resp.usage.output_tokens


async def test_ga_text_only_and_per_response_instructions(emulator):
    async with ga_connect(emulator) as conn:
        await conn.response.create(response={"output_modalities": ["text"], "instructions": "Greet the user"})
        events = await collect(conn)
    types = [e.type for e in events]
    assert "response.output_audio.delta" not in types
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "You said: Greet the user"
    resp = events[-1].response
    assert resp.output[0].content[0].type == "output_text" and resp.output[0].content[0].text == text


async def test_preview_names_and_flat_session(emulator):
    async with preview_connect(emulator) as conn:
        created = await conn.recv()
        assert created.type == "session.created"
        assert created.session.modalities == ["text", "audio"] and created.session.voice == "alloy"
        await conn.session.update(
            session={"turn_detection": {"type": "none"}, "voice": "echo", "temperature": 0.7}
        )
        updated = await conn.recv()
        assert updated.type == "session.updated", updated
        assert updated.session.voice == "echo" and updated.session.temperature == 0.7
        await conn.conversation.item.create(
            item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
        )
        await conn.response.create()
        events = await collect(conn)
    types = {e.type for e in events}
    assert {"conversation.item.created", "response.audio.delta", "response.audio_transcript.delta"} <= types
    assert not any(
        t.startswith(
            (
                "response.output_audio",
                "response.output_text",
                "conversation.item.added",
                "conversation.item.done",
            )
        )
        for t in types
    )
    assert events[-1].response.output[0].content[0].type == "audio"


async def test_session_update_error_keeps_old_settings(emulator):
    async with ga_connect(emulator) as conn:
        await conn.recv()
        await conn.session.update(
            session={
                "type": "realtime",
                "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 3}}},
            }
        )
        err = await conn.recv()
        assert err.type == "error"
        assert err.error.type == "invalid_request_error"
        assert err.error.param == "session.audio.input.turn_detection.threshold"
        await conn.send({"type": "session.update", "session": {"type": "realtime", "bogus_field": 1}})
        err = await conn.recv()
        assert err.type == "error" and err.error.param == "session.bogus_field"
        await conn.session.update(session={"type": "realtime", "instructions": "be brief"})
        ok = await conn.recv()
        assert ok.type == "session.updated"
        assert ok.session.audio.input.turn_detection.threshold == 0.5
        assert ok.session.instructions == "be brief"


async def test_voice_cannot_change_after_audio(emulator):
    async with ga_connect(emulator) as conn:
        await conn.response.create(response={"instructions": "one"})
        await collect(conn, "response.done")
        await conn.session.update(session={"type": "realtime", "audio": {"output": {"voice": "cedar"}}})
        err = await conn.recv()
        assert err.type == "error" and err.error.code == "cannot_update_voice"
