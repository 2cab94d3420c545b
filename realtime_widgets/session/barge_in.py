"""Barge-in: when the user starts speaking, the session decides what was heard and truncates.

The service owns interruption (pipecat's model): on `input_audio_buffer.speech_started` the
session asks each attached audio output what it played, tells it to clear, and truncates the
assistant item that was cut short at the played position. Outputs only clear and report.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from ..conversation import Conversation, Turn
from ..events import RealtimeEvent
from ..session_config import SessionConfig
from . import client_events
from .dispatch import Dispatch
from .link import Link


@dataclass(frozen=True)
class PlayedAudio:
    """What an output played of one assistant item: `played_ms` of the `received_ms` it was given."""

    item_id: str | None
    played_ms: float
    received_ms: float


class AudioOutput(Protocol):
    """Something that plays a session's output audio (an AudioPlayer)."""

    def played_audio(self) -> PlayedAudio | None:
        """The item playing (or played last) and how far; None when nothing of a session was played."""

    def clear(self) -> None:
        """Stop at once and drop what is queued."""


class BargeIn:
    """Interruption of the assistant: by the user's speech (attached outputs) or by `interrupt()`."""

    def __init__(
        self,
        conversation: Conversation,
        link: Link,
        dispatch: Dispatch,
        config: Callable[[], SessionConfig],
        cancel: Callable[[], Awaitable[str]],
        call_playing: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._conversation = conversation
        self._link = link
        self._dispatch = dispatch
        self._config = config
        self._cancel = cancel
        self._call_playing = call_playing  # on a WebRTC call: the response whose audio is playing
        self._outputs: list[AudioOutput] = []

    def attach(self, output: AudioOutput) -> Callable[[], None]:
        self._outputs.append(output)

        def detach() -> None:
            if output in self._outputs:
                self._outputs.remove(output)

        return detach

    def speech_started(self) -> None:
        """The user started speaking: outputs clear; an answer cut short is truncated at what was heard.

        On a WebRTC call the service does both itself (`output_audio_buffer.cleared`, then
        `conversation.item.truncated` at what the track played): the kernel sends nothing."""
        if self._link.call_id is not None:
            return
        responding = any(t.status == "in_progress" for t in self._conversation.turns)
        for output in list(self._outputs):
            played = output.played_audio()
            output.clear()
            if played is None or not played.item_id:
                continue
            unheard = played.played_ms < played.received_ms - 1.0
            # Only when the assistant was cut short: more audio was coming or was still queued.
            if responding or unheard:
                # Name the item: the server may have started the next reply before this runs.
                self._dispatch.spawn(self.interrupt(int(played.played_ms), item_id=played.item_id))

    async def interrupt(self, played_ms: float, item_id: str | None = None) -> Turn:
        if self._link.call_id is not None:
            return await self._clear_call()
        if not isinstance(played_ms, (int, float)) or played_ms != played_ms:
            raise ValueError(f"played_ms must be a number of milliseconds, got {played_ms!r}")
        turns = [t for t in reversed(self._conversation.turns) if t.item_id is not None]
        if item_id is not None:
            turns = [t for t in turns if t.item_id == item_id]
            if not turns:
                raise ValueError(f"nothing to interrupt: no assistant item {item_id!r} in this conversation")
        if not turns:
            raise ValueError("nothing to interrupt: no assistant item has arrived yet")
        turn = turns[0]
        target = turn.item_id
        assert target is not None  # only turns with an assistant item were kept
        config = self._config()
        # With server VAD's interrupt_response, speech the server heard after this turn already
        # cancels it; a second cancel would only earn a response_cancel_not_active error.
        server_cancels = (
            not config.manual_commit
            and config.interrupt_response
            and any(t.speech_start_ms is not None for t in self._conversation.turns[turn.index + 1 :])
        )
        if turn.status == "in_progress" and not server_cancels:
            await self._cancel()
        audio_end_ms = int(max(0.0, min(float(played_ms), turn.duration_s * 1000.0)))
        event_id = self._link.new_id()
        waiter = self._dispatch.expect(
            lambda e: e.type == "conversation.item.truncated" and e.raw.get("item_id") == target, {event_id}
        )
        try:
            await self._link.send(client_events.item_truncate(event_id, target, audio_end_ms))
        except BaseException:
            self._dispatch.forget(waiter)
            raise
        await self._dispatch.wait(waiter, "conversation.item.truncated")
        return turn

    async def _clear_call(self) -> Turn:
        """On a WebRTC call only the service knows what played: `output_audio_buffer.clear` stops the
        track, cancels the response and truncates its item there (`played_ms` is not needed)."""
        response_id = self._call_playing()
        turn = self._conversation.turn_for_response(response_id)
        if response_id is None or turn is None:
            raise ValueError("nothing to interrupt: no reply is playing on the call")
        event_id = self._link.new_id()
        item_id = turn.item_id

        def done(e: RealtimeEvent) -> bool:
            if item_id is not None:
                return e.type == "conversation.item.truncated" and e.raw.get("item_id") == item_id
            return e.type == "output_audio_buffer.cleared" and e.raw.get("response_id") == response_id

        waiter = self._dispatch.expect(done, {event_id})
        try:
            await self._link.send(client_events.output_audio_buffer_clear(event_id))
        except BaseException:
            self._dispatch.forget(waiter)
            raise
        await self._dispatch.wait(waiter, "output_audio_buffer.cleared")
        return turn
