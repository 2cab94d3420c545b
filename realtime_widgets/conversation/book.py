"""`TurnBook`: the turns and items of a conversation and the indexes that find them."""

from __future__ import annotations

from typing import Any

from ..events import RealtimeEvent
from .stream import PcmStream
from .tables import TurnList
from .turn import Turn


class TurnBook:
    """Turns in order, items by id, and which turn a response, user item or assistant item belongs to."""

    def __init__(self, input_stream: PcmStream, output_stream: PcmStream) -> None:
        self.turns = TurnList()
        self.model: str | None = None  # as session.created / session.updated name it
        self.items: dict[str, dict[str, Any]] = {}  # insertion order is conversation order
        self.errors: list[dict[str, Any]] = []
        self.by_response: dict[str, Turn] = {}
        self.by_user_item: dict[str, Turn] = {}
        self.by_item: dict[str, Turn] = {}
        self._input = input_stream
        self._output = output_stream

    @property
    def last_turn(self) -> Turn | None:
        return self.turns[-1] if self.turns else None

    def new_turn(self, **fields: Any) -> Turn:
        turn = Turn(index=len(self.turns), _input=self._input, _output=self._output, **fields)
        self.turns.append(turn)
        return turn

    def link_user_item(self, turn: Turn, item_id: str) -> None:
        turn.user_item_id = item_id
        self.by_user_item[item_id] = turn

    def turn_for_response(self, event: RealtimeEvent) -> Turn | None:
        """The turn an assistant-side event is about: by its response id, else by its item id."""
        rid = event.response_id
        if rid and rid in self.by_response:
            return self.by_response[rid]
        item_id = event.raw.get("item_id")
        if item_id and item_id in self.by_item:
            return self.by_item[item_id]
        return None

    def open_user_turn(self) -> Turn | None:
        """The last turn if it is still waiting for its user item (VAD or manual audio input)."""
        turn = self.last_turn
        if turn is not None and turn.user_item_id is None and turn.response_id is None:
            return turn
        return None

    def fail_running(self) -> Turn | None:
        """A new connection: responses still running on the previous one will never finish."""
        changed = None
        for turn in self.turns:
            if turn.status == "in_progress":
                turn.status = "failed"
                turn.error = {
                    "type": "connection",
                    "message": "the connection closed before the response was done",
                }
                changed = turn
        return changed
