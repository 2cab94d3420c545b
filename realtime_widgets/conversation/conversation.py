"""`Conversation`: items, turns and audio of one realtime session, built only from its events.

The Conversation owns the audio: `apply` moves an event's base64 payload into its stream (input or
output) and records the event with a reference in its place. The event readers are two parts that
get the book of turns and the stream they need: `UserSide` and `ResponseSide`.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from ..events import AUDIO_PAYLOAD_KEYS, INPUT_TAP, OUTPUT_TAP, RealtimeEvent, audio_ref, parse_audio_ref
from . import store
from .book import TurnBook
from .event_list import DEFAULT_MEMORY_EVENTS, EventList
from .parts import error_dict
from .response_side import ResponseSide
from .stream import DEFAULT_MEMORY_SECONDS, PcmStream
from .tables import Prices, TurnList, cost_frame
from .turn import Turn
from .user_side import UserSide

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

log = logging.getLogger(__name__)

AudioListener = Callable[[Turn | None, str, np.ndarray, int], Any]
_Handler = Callable[[RealtimeEvent], "Turn | None"]
_F = TypeVar("_F", bound=Callable[..., Any])


class Conversation:
    """Items, turns and audio of one realtime session, built from its events."""

    def __init__(
        self,
        *,
        audio_memory_seconds: float | None = DEFAULT_MEMORY_SECONDS,
        memory_events: int | None = DEFAULT_MEMORY_EVENTS,
    ) -> None:
        """`audio_memory_seconds` of each stream and `memory_events` events stay in memory; older
        ones move to temporary files this conversation owns (None: keep everything in memory)."""
        self.input = PcmStream(audio_memory_seconds)
        self.output = PcmStream(audio_memory_seconds)
        self.events = EventList(memory_events)
        self._book = TurnBook(self.input, self.output)
        self.turns: TurnList = self._book.turns
        self.errors: list[dict[str, Any]] = self._book.errors
        self._user = UserSide(self._book, self.input)
        self._response = ResponseSide(self._book)
        self._listeners: list[Callable[[Turn], Any]] = []
        self._audio_listeners: list[AudioListener] = []
        self._handlers = self._handler_table()

    # ------------------------------------------------------------------ public API
    @property
    def items(self) -> list[dict[str, Any]]:
        """Every conversation item, in order, as the server last described it."""
        return list(self._book.items.values())

    @property
    def last_turn(self) -> Turn | None:
        return self._book.last_turn

    @property
    def model(self) -> str | None:
        """The model (on Azure, the deployment) the session events name; None before any says."""
        return self._book.model

    def cost(self, prices: Prices = None, *, model: str | None = None, total: bool = True) -> pd.DataFrame:
        """Tokens and US dollars per turn from each `response.done` usage, with a "total" row.

        Prices are `pricing.DEFAULT_PRICES` for `model` (default: the session's); `prices=` overrides
        them (a `TokenPrices`, or a mapping of model name to prices). An unknown model raises
        `UnknownModelPrices`, saying how to pass them. `total=False` leaves only the turns' rows.
        """
        return cost_frame(self.turns, model or self.model, prices, total)

    def on_change(self, fn: Callable[[Turn], Any]) -> Callable[[], None]:
        """Call `fn(turn)` whenever a turn is created or changes; returns a function that unsubscribes."""
        return _subscribe(self._listeners, fn)

    def on_audio(self, fn: AudioListener) -> Callable[[], None]:
        """Call `fn(turn, direction, pcm, start)` whenever `apply` stores audio; returns an unsubscribe.

        `direction` is "input" (a client append) or "output" (an assistant delta), `pcm` the new
        samples (int16, 24 kHz) and `start` where they begin in `conversation.input` / `.output`.
        `turn` is the turn the audio belongs to when already known: the response's turn for output,
        the turn whose speech is still going on for input, else None.
        """
        return _subscribe(self._audio_listeners, fn)

    def turn_for_user_item(self, item_id: str | None) -> Turn | None:
        """The turn whose user input is the conversation item `item_id`."""
        return self._book.by_user_item.get(item_id or "")

    def turn_for_item(self, item_id: str | None) -> Turn | None:
        """The turn whose assistant message is the conversation item `item_id`."""
        return self._book.by_item.get(item_id or "")

    def turn_for_response(self, response_id: str | None) -> Turn | None:
        return self._book.by_response.get(response_id or "")

    def note_underrun(self, item_id: str | None) -> Turn | None:
        """A player ran dry while playing assistant item `item_id`: count it on its turn."""
        turn = self.turn_for_item(item_id)
        if turn is None:
            return None
        turn.underruns += 1
        self._changed(turn)
        return turn

    def stream(self, name: str) -> PcmStream:
        """The audio stream "input" or "output"."""
        if name == "input":
            return self.input
        if name == "output":
            return self.output
        raise ValueError(f"audio stream must be 'input' or 'output', got {name!r}")

    def apply(self, event: RealtimeEvent) -> Turn | None:
        """Record one event and update items and turns. Returns the turn it changed, if any.

        A base64 audio payload goes into its stream here, and the event is recorded with a reference
        in its place: `conversation.events[-1]` is the event as recorded.
        """
        try:
            event, audio = self._take_audio(event)
        except ValueError:  # not base64, or an odd byte count: keep the event, skip its audio
            log.warning(
                "the audio of the %s event %s is not PCM16 base64; it stays in the event log as is",
                event.direction,
                event.type,
            )
            self.events.append(event)
            return None
        self.events.append(event)
        turn = self._handle(event)
        if audio is not None:
            self._notify_audio(turn, *audio)
        if turn is not None:
            self._changed(turn)
        return turn

    def _changed(self, turn: Turn) -> None:
        for fn in list(self._listeners):
            try:
                fn(turn)
            except Exception:  # a broken listener must not break the session
                log.exception("Conversation.on_change listener %r failed", fn)

    def save(self, folder: str | Path) -> Path:
        """Write `events.jsonl` (audio as references) and `input.wav` / `output.wav` into `folder`."""
        return store.save(self, folder)

    @classmethod
    def load(cls, folder: str | Path) -> Conversation:
        """The Conversation saved in `folder`, rebuilt by replaying its events with its audio."""
        return store.load_into(cls(), folder)

    def close(self) -> None:
        """Free the audio and the event log now (memory and temporary files); turns read as silent."""
        self.input.close()
        self.output.close()
        self.events.close()

    # ------------------------------------------------------------------ internals
    def _handle(self, event: RealtimeEvent) -> Turn | None:
        handler = self._handlers.get((event.direction, event.type))
        if handler is None:  # unknown to this client: kept in the log, nothing else to do
            return None
        try:
            return handler(event)
        except Exception:  # a shape nobody expected must not end the session; the event stays logged
            log.warning(
                "could not read the %s event %s; it stays in the event log",
                event.direction,
                event.type,
                exc_info=True,
            )
            return None

    def _take_audio(self, event: RealtimeEvent) -> tuple[RealtimeEvent, tuple[str, int, int] | None]:
        """Store a base64 audio payload in its stream; the event to record holds a reference instead.

        The event given is left as it is (it is frozen); a payload that already is a reference
        (`load`, which feeds the streams itself) only names the range.
        """
        spec = AUDIO_PAYLOAD_KEYS.get(event.type)
        if spec is None:
            return event, None
        key, name = spec
        value = event.raw.get(key)
        if not isinstance(value, str):
            return event, None
        ref = parse_audio_ref(value)
        if ref is not None:
            return event, ref
        start, stop = self.stream(name).append(base64.b64decode(value))
        recorded = dataclasses.replace(event, raw={**event.raw, key: audio_ref(name, start, stop)})
        return recorded, (name, start, stop)

    def _notify_audio(self, turn: Turn | None, name: str, start: int, stop: int) -> None:
        if not self._audio_listeners:
            return
        if name == "input":
            last = self._book.last_turn
            turn = last if last is not None and last.user_speaking else None
        pcm = self.stream(name).read(start, stop)
        for fn in list(self._audio_listeners):
            try:
                fn(turn, name, pcm, start)
            except Exception:  # a broken listener must not break the session
                log.exception("Conversation.on_audio listener %r failed", fn)

    def _session_created(self, event: RealtimeEvent) -> Turn | None:
        self._user.new_connection()
        changed = self._book.fail_running()
        self._user.session_settings(event)
        return changed

    def _item_added(self, event: RealtimeEvent) -> Turn | None:
        item = event.raw.get("item")
        if not isinstance(item, dict) or not item.get("id"):
            return None
        self._book.items[item["id"]] = item
        if item.get("type") != "message":
            return None
        if item.get("role") == "user":
            return self._user.user_item_added(event, item)
        if item.get("role") == "assistant":
            return self._response.assistant_item_added(event, item)
        return None

    def _item_done(self, event: RealtimeEvent) -> Turn | None:
        item = event.raw.get("item")
        if not isinstance(item, dict) or not item.get("id"):
            return None
        self._book.items[item["id"]] = item
        return self._response.item_done(event, item)

    def _item_deleted(self, event: RealtimeEvent) -> Turn | None:
        self._book.items.pop(event.raw.get("item_id", ""), None)
        return None

    def _error(self, event: RealtimeEvent) -> Turn | None:
        error = error_dict(event.raw.get("error"), "error event without details")
        self._book.errors.append(error)
        turn = self._book.last_turn
        if turn is None:
            return None
        turn.error = error
        return turn

    def _handler_table(self) -> dict[tuple[str, str], _Handler]:
        user, response = self._user, self._response
        client: dict[str, _Handler] = {
            "conversation.item.create": user.client_item_create,
            "input_audio_buffer.commit": user.client_commit,
            "input_audio_buffer.clear": user.client_clear,
            INPUT_TAP: user.input_tap,
            "response.create": response.client_response_create,
        }
        server: dict[str, _Handler] = {
            "session.created": self._session_created,
            "session.updated": user.session_settings,
            "input_audio_buffer.speech_started": user.speech_started,
            "input_audio_buffer.speech_stopped": user.speech_stopped,
            "input_audio_buffer.committed": user.committed,
            "input_audio_buffer.cleared": user.cleared,
            "conversation.item.added": self._item_added,
            "conversation.item.done": self._item_done,
            "conversation.item.retrieved": self._item_done,
            "response.content_part.done": response.content_part_done,
            "conversation.item.deleted": self._item_deleted,
            "conversation.item.truncated": response.item_truncated,
            "conversation.item.input_audio_transcription.delta": user.transcript_delta,
            "conversation.item.input_audio_transcription.completed": user.transcript_done,
            "conversation.item.input_audio_transcription.failed": user.transcript_failed,
            "response.created": response.response_created,
            "response.output_item.added": response.output_item,
            "response.output_item.done": response.output_item,
            "response.output_audio.delta": response.audio_delta,
            OUTPUT_TAP: response.tapped_audio,
            "response.output_audio_transcript.delta": response.transcript_delta,
            "response.output_audio_transcript.done": response.transcript_done,
            "response.output_text.delta": response.text_delta,
            "response.output_text.done": response.text_done,
            "response.done": response.response_done,
            "error": self._error,
        }
        return {("client", k): v for k, v in client.items()} | {("server", k): v for k, v in server.items()}


def _subscribe(listeners: list[_F], fn: _F) -> Callable[[], None]:
    listeners.append(fn)

    def unsubscribe() -> None:
        if fn in listeners:
            listeners.remove(fn)

    return unsubscribe


def replay(events: Iterable[RealtimeEvent]) -> Conversation:
    """A Conversation built from events whose audio payloads are still base64 (e.g. synthetic ones)."""
    conv = Conversation()
    for event in events:
        conv.apply(event)
    return conv
