"""Truncation of an earlier item while a new response is starting."""

from __future__ import annotations


async def test_truncating_the_previous_item_does_not_cancel_a_new_response(emulator):
    """A truncate that races a just-started response must leave that response alone."""
    import asyncio

    from realtime_widgets import ConnectionConfig, RealtimeSession, SessionConfig

    async with RealtimeSession(
        ConnectionConfig.for_emulator(emulator), SessionConfig(turn_detection="manual")
    ) as s:
        first = await s.send_text("first question")
        await s.send_event(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "second"}],
                },
            }
        )
        done = asyncio.ensure_future(s.wait_for("response.done", timeout=20))
        truncated = asyncio.ensure_future(s.wait_for("conversation.item.truncated", timeout=20))
        # Both go out back to back: neither waits for the other to be sent.
        await asyncio.gather(
            s.send_event({"type": "response.create"}),
            s.send_event(
                {
                    "type": "conversation.item.truncate",
                    "item_id": first.item_id,
                    "content_index": 0,
                    "audio_end_ms": 200,
                }
            ),
        )
        finished, cut = await done, await truncated
        assert cut.raw["item_id"] == first.item_id and cut.raw["audio_end_ms"] == 200
        assert finished.raw["response"]["status"] == "completed"
