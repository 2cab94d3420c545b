"""Input audio over a raw WebSocket: server VAD, threshold, manual commit, transcription, barge-in."""

from __future__ import annotations

import numpy as np
import pytest
from emu_helpers import ga_url, preview_url, raw_connect

from realtime_widgets.emulator import synthesize

SR = 24_000


@pytest.fixture(scope="module")
def utterance() -> np.ndarray:
    return synthesize("hello there", "ash")


def silence(ms: int) -> np.ndarray:
    return np.zeros(SR * ms // 1000, np.int16)


def td_update(td) -> dict:
    return {
        "type": "session.update",
        "session": {"type": "realtime", "audio": {"input": {"turn_detection": td}}},
    }


async def test_server_vad_turn(emulator, utterance):
    emulator.reply = lambda text, seconds: f"heard {seconds:.1f} s"
    c = await raw_connect(ga_url(emulator))
    await c.send(td_update({"type": "server_vad", "silence_duration_ms": 300, "prefix_padding_ms": 200}))
    await c.until("session.updated")
    speech_ms = len(utterance) * 1000 // SR
    await c.append(np.concatenate([silence(500), utterance, silence(800)]))
    events = await c.until("response.done")
    types = [e["type"] for e in events]
    started = events[types.index("input_audio_buffer.speech_started")]
    stopped = events[types.index("input_audio_buffer.speech_stopped")]
    assert 400 <= started["audio_start_ms"] <= 700
    assert 500 + speech_ms - 250 <= stopped["audio_end_ms"] <= 500 + speech_ms + 400
    assert started["item_id"] == stopped["item_id"]
    committed = events[types.index("input_audio_buffer.committed")]
    assert committed["item_id"] == started["item_id"]
    assert types.index("input_audio_buffer.speech_stopped") < types.index("input_audio_buffer.committed")
    assert types.index("input_audio_buffer.committed") < types.index("response.created")
    # The committed turn is the speech plus prefix padding and the silence that ended it.
    transcript = events[-1]["response"]["output"][0]["content"][0]["transcript"]
    seconds = float(transcript.split()[1])
    assert (speech_ms + 200) / 1000 - 0.2 <= seconds <= (speech_ms + 200 + 300) / 1000 + 0.2
    await c.ws.close()


@pytest.mark.parametrize(("threshold", "expect_speech"), [(0.9, False), (0.3, True)])
async def test_vad_threshold(emulator, utterance, threshold, expect_speech):
    quiet = (utterance.astype(np.float32) * 0.1).astype(np.int16)
    c = await raw_connect(ga_url(emulator))
    await c.send(td_update({"type": "server_vad", "threshold": threshold, "create_response": False}))
    await c.until("session.updated")
    await c.append(np.concatenate([silence(200), quiet, silence(700)]))
    types = [e["type"] for e in await c.sync()]
    assert ("input_audio_buffer.speech_started" in types) is expect_speech
    await c.ws.close()


async def test_manual_commit_and_reply_from_audio(emulator, utterance):
    emulator.reply = lambda text, seconds: f"heard {seconds:.2f} s"
    c = await raw_connect(preview_url(emulator))
    await c.send({"type": "session.update", "session": {"turn_detection": None}})
    await c.until("session.updated")
    await c.append(silence(50))
    await c.send({"type": "input_audio_buffer.commit"})
    err = (await c.until("error"))[-1]
    assert err["error"]["code"] == "input_audio_buffer_commit_empty"
    await c.send({"type": "input_audio_buffer.clear"})
    await c.until("input_audio_buffer.cleared")
    await c.append(utterance)
    assert not any(e["type"].startswith("input_audio_buffer.speech") for e in await c.sync())
    await c.send({"type": "input_audio_buffer.commit"})
    events = await c.until("conversation.item.created")
    assert events[0]["type"] == "input_audio_buffer.committed"
    assert events[-1]["item"]["content"][0]["type"] == "input_audio"
    await c.send({"type": "response.create"})
    done = (await c.until("response.done"))[-1]
    assert done["response"]["output"][0]["content"][0]["transcript"] == f"heard {len(utterance) / SR:.2f} s"
    await c.ws.close()


async def test_input_transcription_events(emulator, utterance):
    c = await raw_connect(ga_url(emulator))
    await c.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {"input": {"turn_detection": None, "transcription": {"model": "whisper-1"}}},
            },
        }
    )
    await c.until("session.updated")
    await c.append(utterance)
    await c.send({"type": "input_audio_buffer.commit"})
    events = await c.until("conversation.item.input_audio_transcription.completed", timeout=30)
    done = events[-1]
    committed = next(e for e in events if e["type"] == "input_audio_buffer.committed")
    assert done["item_id"] == committed["item_id"]
    assert isinstance(done["transcript"], str)
    deltas = "".join(
        e["delta"] for e in events if e["type"] == "conversation.item.input_audio_transcription.delta"
    )
    assert deltas == done["transcript"]
    await c.ws.close()


async def test_barge_in_cancels_response_then_truncate(emulator, utterance):
    emulator.reply = lambda text, seconds: "This is a long answer that keeps on talking " * 4
    c = await raw_connect(ga_url(emulator))
    await c.send(td_update({"type": "server_vad", "silence_duration_ms": 300, "create_response": False}))
    await c.until("session.updated")
    await c.send({"type": "response.create"})
    first = (await c.until("response.output_audio.delta"))[-1]
    item_id = first["item_id"]
    await c.append(np.concatenate([silence(100), utterance]))
    events = await c.until("response.done")
    types = [e["type"] for e in events]
    assert types.index("input_audio_buffer.speech_started") < types.index("response.done")
    resp = events[-1]["response"]
    assert resp["status"] == "cancelled"
    assert resp["status_details"]["reason"] == "turn_detected"
    # Truncating past the audio that was sent is an error; within it, the item is truncated.
    await c.send(
        {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 60_000}
    )
    err = (await c.until("error"))[-1]
    assert err["error"]["param"] == "audio_end_ms"
    await c.send(
        {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 50}
    )
    trunc = (await c.until("conversation.item.truncated"))[-1]
    assert trunc["item_id"] == item_id and trunc["audio_end_ms"] == 50
    await c.ws.close()


async def test_cancel(emulator):
    emulator.reply = lambda text, seconds: "A reply long enough to be cancelled while it streams " * 3
    c = await raw_connect(ga_url(emulator))
    await c.send({"type": "response.cancel"})
    assert (await c.until("error"))[-1]["error"]["code"] == "response_cancel_not_active"
    await c.send({"type": "response.create"})
    await c.until("response.output_audio.delta")
    await c.send({"type": "response.create"})
    err = (await c.until("error"))[-1]
    assert err["error"]["code"] == "conversation_already_has_active_response"
    await c.send({"type": "response.cancel"})
    resp = (await c.until("response.done"))[-1]["response"]
    assert resp["status"] == "cancelled" and resp["status_details"]["reason"] == "client_cancelled"
    await c.ws.close()
