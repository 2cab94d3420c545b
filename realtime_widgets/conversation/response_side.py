"""How the assistant's side of a turn is read: responses, output items, audio and text deltas."""

from __future__ import annotations

from typing import Any

from ..events import RealtimeEvent, parse_audio_ref
from ..protocol import SAMPLE_RATE
from .book import TurnBook
from .parts import RESPONSE_STATUS, fill_from_parts, ms, parts, text
from .turn import ToolCall, Turn


class ResponseSide:
    """Reads assistant-side events into the book's turns."""

    def __init__(self, book: TurnBook) -> None:
        self._book = book
        self._requested_s: float | None = None  # when the client last asked for a response

    def client_response_create(self, event: RealtimeEvent) -> Turn | None:
        self._requested_s = event.time
        return None

    def response_created(self, event: RealtimeEvent) -> Turn | None:
        rid = event.response_id
        if not rid:
            return None
        book = self._book
        last = book.last_turn
        turn = last if last is not None and last.response_id is None else book.new_turn()
        turn.response_id = rid
        turn.status = "in_progress"
        if turn.origin_s is None:
            turn.origin_s = self._requested_s if self._requested_s is not None else event.time
        self._requested_s = None
        book.by_response[rid] = turn
        return turn

    def assistant_item_added(self, event: RealtimeEvent, item: dict[str, Any]) -> Turn | None:
        book = self._book
        turn = book.by_item.get(item["id"]) or book.turn_for_response(event)
        if turn is not None and turn.item_id is None:
            turn.item_id = item["id"]
            book.by_item[item["id"]] = turn
        return turn

    def output_item(self, event: RealtimeEvent) -> Turn | None:
        item = event.raw.get("item")
        if not isinstance(item, dict) or not item.get("id"):
            return None
        book = self._book
        book.items[item["id"]] = item
        turn = book.turn_for_response(event)
        if turn is None:
            return None
        if turn.item_id is None and item.get("type") == "message":
            turn.item_id = item["id"]
            book.by_item[item["id"]] = turn
        if (
            item.get("type") == "function_call"
            and event.type == "response.output_item.done"
            and not any(c.call_id == item.get("call_id") for c in turn.tool_calls)
        ):
            turn.tool_calls.append(
                ToolCall(item.get("name", ""), item.get("call_id", ""), item.get("arguments", ""), item["id"])
            )
        return turn

    def item_done(self, event: RealtimeEvent, item: dict[str, Any]) -> Turn | None:
        turn = self._book.by_item.get(item["id"])
        if turn is not None and item.get("role") == "assistant":
            return turn if fill_from_parts(turn, parts(item)) else None
        return None

    def content_part_done(self, event: RealtimeEvent) -> Turn | None:
        turn = self._book.turn_for_response(event)
        part = event.raw.get("part")
        if turn is None or not isinstance(part, dict):
            return None
        return turn if fill_from_parts(turn, [part]) else None

    def audio_delta(self, event: RealtimeEvent) -> Turn | None:
        turn = self._book.turn_for_response(event)
        ref = parse_audio_ref(event.raw.get("delta"))
        if turn is None or ref is None:
            return None
        turn.add_output(ref[1], ref[2], event.time)
        if turn.latency_first_audio_s is None and turn.origin_s is not None:
            turn.latency_first_audio_s = event.time - turn.origin_s
        return turn

    def tapped_audio(self, event: RealtimeEvent) -> Turn | None:
        """A chunk of a WebRTC call's track, tapped by the page while this turn's response played."""
        turn = self.audio_delta(event)
        if turn is not None:
            turn._tapped = True
        return turn

    def transcript_delta(self, event: RealtimeEvent) -> Turn | None:
        turn = self._book.turn_for_response(event)
        if turn is None:
            return None
        delta = text(event.raw.get("delta"))
        turn.transcript += delta
        turn.transcript_deltas.append((event.time, delta, turn.audio_samples / SAMPLE_RATE))
        return turn

    def transcript_done(self, event: RealtimeEvent) -> Turn | None:
        turn = self._book.turn_for_response(event)
        if turn is None:
            return None
        if isinstance(event.raw.get("transcript"), str):
            turn.transcript = event.raw["transcript"]
        return turn

    def text_delta(self, event: RealtimeEvent) -> Turn | None:
        turn = self._book.turn_for_response(event)
        if turn is None:
            return None
        turn.text += text(event.raw.get("delta"))
        return turn

    def text_done(self, event: RealtimeEvent) -> Turn | None:
        turn = self._book.turn_for_response(event)
        if turn is None:
            return None
        if isinstance(event.raw.get("text"), str):
            turn.text = event.raw["text"]
        return turn

    def response_done(self, event: RealtimeEvent) -> Turn | None:
        turn = self._book.turn_for_response(event)
        if turn is None:
            return None
        response = event.raw.get("response") or {}
        wire_status = response.get("status") or "completed"
        if turn.status != "truncated":
            turn.status = RESPONSE_STATUS.get(wire_status, wire_status)
        turn.usage = response.get("usage")
        if wire_status == "failed":
            details = response.get("status_details") or {}
            turn.error = details.get("error") or details or {"message": "response failed"}
        if turn.origin_s is not None:
            turn.latency_done_s = event.time - turn.origin_s
        return turn

    def item_truncated(self, event: RealtimeEvent) -> Turn | None:
        turn = self._book.by_item.get(event.raw.get("item_id", ""))
        if turn is None:
            return None
        turn.status = "truncated"
        turn.truncated_ms = int(ms(event.raw.get("audio_end_ms")) or 0)
        return turn
