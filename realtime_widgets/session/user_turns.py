"""The user's turns: text messages, audio appends in 100 ms chunks, commits, whole clips, and
waiting for spoken turns."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import numpy as np

from .. import audio
from ..conversation import Conversation, Turn
from ..errors import AudioInputError, CallAudioError, RequestTimeout, ServerError, SessionClosed
from ..protocol import CHUNK_MS, MIN_COMMIT_MS, SAMPLE_RATE
from ..session_config import SessionConfig
from . import client_events
from .dispatch import Dispatch, Predicate
from .held_audio import HeldAudio
from .link import Link
from .timeouts import abandon_response

log = logging.getLogger(__name__)

CHUNK_SAMPLES = SAMPLE_RATE * CHUNK_MS // 1000
# How the user's turn ended when the microphone stopped (`end_speech`).
SpeechEnd = Literal["committed", "discarded", "none"]
# semantic_vad has no silence setting; the service waits longer than server VAD's default.
_SEMANTIC_SILENCE_MS = 1200
# A clip "ends in silence" when its last stretch stays below this level (about -50 dBFS).
_SILENCE_RMS = 100.0
# Appends queued but not yet written to the socket, at most: a long clip streams in bounded memory.
APPENDS_IN_FLIGHT = 32


class UserTurns:
    """What the user says in one session; `config()` is the session's current SessionConfig."""

    def __init__(
        self,
        conversation: Conversation,
        link: Link,
        dispatch: Dispatch,
        config: Callable[[], SessionConfig],
        create_response: Callable[[], Awaitable[str]],
        follow_tools: Callable[[Turn], Awaitable[Turn]],
    ) -> None:
        self._conversation = conversation
        self._link = link
        self._dispatch = dispatch
        self._config = config
        self._create_response = create_response
        self._follow_tools = follow_tools
        self.held = HeldAudio()  # audio appended (nowait) while the session reconnects

    async def send_text(self, text: str, respond: bool) -> Turn:
        link = self._link
        link.require_open()
        item_id, response_id = link.new_id(), link.new_id()
        holder: list[Turn] = []
        waiter = self._dispatch.expect(
            lambda e: bool(holder) and response_done_for(holder[0])(e), {item_id, response_id}
        )
        sent = [link.enqueue(client_events.item_create(client_events.user_text(text), item_id))]
        holder.append(self._conversation.turns[-1])
        if respond:
            sent.append(link.enqueue(client_events.response_create(response_id)))
        try:
            await asyncio.gather(*sent)
        except BaseException:
            self._dispatch.forget(waiter)
            raise
        if not respond:
            self._dispatch.forget(waiter)
            return holder[0]
        await self._wait_response(waiter, holder[0])
        return await self._follow_tools(holder[0])

    async def _wait_response(self, waiter: Any, turn: Turn | None, timeout: float | None = None) -> None:
        """Wait for `turn`'s response.done; on timeout cancel the response and say so."""
        try:
            await self._dispatch.wait(waiter, "response.done", timeout)
        except RequestTimeout as err:
            raise await abandon_response(lambda: turn, err, self._link, self._dispatch) from None

    # -- appending -------------------------------------------------------------------------
    def _append_now(self, pcm: np.ndarray) -> list[asyncio.Future[Any]]:
        """Record and queue 100 ms appends of int16 24 kHz audio (sync; on the loop thread)."""
        link = self._link
        link.require_open()
        futures = []
        data = pcm.astype("<i2", copy=False).tobytes()
        step = CHUNK_SAMPLES * 2
        for start in range(0, len(data), step):
            event_id = link.new_id()
            audio = base64.b64encode(data[start : start + step]).decode("ascii")
            # The conversation stores the audio when it applies the event (and records a reference).
            raw = client_events.input_audio_append(event_id, audio)
            futures.append(link.enqueue(raw, client_events.input_audio_append_json(event_id, audio)))
        return futures

    def refuse_on_call(self, what: str) -> None:
        """Kernel audio cannot enter a WebRTC call: the microphone travels on the call's track."""
        if self._link.call_id is not None:
            raise CallAudioError(
                f"{what}: this session is joined to the WebRTC call {self._link.call_id}, whose "
                "microphone reaches the service on the call's own track; speak into the page's call "
                "(s.tap_audio records a copy), or send audio from the kernel over a WebSocket session "
                "(RealtimeSession without call_id)"
            )

    async def append_audio(self, x: Any, rate: int | None = SAMPLE_RATE) -> None:
        self.refuse_on_call("append_audio()")
        await self._stream(await _pcm_async(x, rate))

    async def _stream(self, pcm: np.ndarray) -> None:
        """Append `pcm` in 100 ms events, each encoded as it is queued, with at most
        APPENDS_IN_FLIGHT not yet written: memory stays bounded, whatever the clip's length."""
        link, timeout = self._link, self._dispatch.timeout
        wire = pcm.astype("<i2", copy=False)
        in_flight: deque[asyncio.Future[Any]] = deque()
        try:
            for start in range(0, wire.size, CHUNK_SAMPLES):
                if len(in_flight) >= APPENDS_IN_FLIGHT:
                    await _written(in_flight.popleft(), timeout)
                link.require_open()
                event_id = link.new_id()
                audio = base64.b64encode(wire[start : start + CHUNK_SAMPLES].tobytes()).decode("ascii")
                raw = client_events.input_audio_append(event_id, audio)
                in_flight.append(link.enqueue(raw, client_events.input_audio_append_json(event_id, audio)))
            while in_flight:
                await _written(in_flight.popleft(), timeout)
        finally:
            for future in in_flight:
                future.add_done_callback(_consume)

    def append_audio_nowait(self, x: Any, rate: int | None = SAMPLE_RATE) -> None:
        self.refuse_on_call("append_audio_nowait()")
        pcm = to_wire_pcm(x, rate)
        if self._link.in_loop_thread():
            self._append_quietly(pcm, raise_errors=True)
        else:
            self._link.hand_off(self._append_quietly, pcm)

    def _append_quietly(self, pcm: np.ndarray, raise_errors: bool = False) -> None:
        if self.held.active:  # reconnecting: sent once the session is back
            self.held.add(pcm)
            return
        try:
            for future in self._append_now(pcm):
                future.add_done_callback(_consume)
        except SessionClosed:
            if raise_errors:
                raise
            log.warning("audio dropped: the session is not connected")

    def send_held(self) -> None:
        """Append what was held during a reconnect, in order, before anything newer."""
        for pcm in self.held.take():
            self._append_quietly(pcm)

    async def _append_paced(self, pcm: np.ndarray, realtime: bool) -> None:
        if not realtime:
            await self.append_audio(pcm)
            return
        start = time.monotonic()
        for i in range(0, pcm.size, CHUNK_SAMPLES):
            await self.append_audio(pcm[i : i + CHUNK_SAMPLES])
            target = start + (i + CHUNK_SAMPLES) / SAMPLE_RATE
            await asyncio.sleep(max(0.0, target - time.monotonic()))

    # -- turns -----------------------------------------------------------------------------
    async def commit(self) -> Turn:
        link, dispatch = self._link, self._dispatch
        event_id = link.new_id()
        waiter = dispatch.expect(lambda e: e.type == "input_audio_buffer.committed", {event_id})
        try:
            await link.send(client_events.input_audio_commit(event_id))
        except BaseException:
            dispatch.forget(waiter)
            raise
        event = await dispatch.wait(waiter, "input_audio_buffer.committed")
        turn = self._conversation.turn_for_user_item(event.raw.get("item_id"))
        return turn if turn is not None else self._conversation.turns[-1]

    async def end_speech(self, timeout: float = 5.0) -> SpeechEnd:
        """The microphone stopped: end the user's turn now instead of leaving it open.

        Manual turns: a commit and a response. VAD: silence is appended, so the server ends speech
        going on as it ends any turn (speech_stopped, commit, response); an explicit commit if it
        has not within `timeout`. When no speech was known to go on, a clear follows the silence:
        it empties what the buffer still holds (nothing of it opens the next turn) and, as the
        server answers events in order, it tells whether speech begun meanwhile was committed or
        dropped ("discarded").
        """
        self._link.require_open()
        config, conversation = self._config(), self._conversation
        respond = config.create_response and not config.is_transcription
        if config.manual_commit:
            return await self._commit_or_clear(respond=not config.is_transcription)
        turns = conversation.turns
        since = len(turns)
        speaking = turns[-1] if turns and turns[-1].user_speaking else None
        silence_ms = (
            config.silence_duration_ms if config.turn_detection == "server_vad" else _SEMANTIC_SILENCE_MS
        )
        await self.append_audio(np.zeros(SAMPLE_RATE * (silence_ms + 300) // 1000, np.int16))
        if speaking is None:
            await self._clear()
            begun = conversation.turns[since:]
            if any(t.status == "cancelled" and t.response_id is None for t in begun):
                return "discarded"
            return "committed" if any(t.user_range is not None for t in begun) else "none"
        if speaking.user_speaking:
            waiter = self._dispatch.expect(lambda e: not speaking.user_speaking, set())
            try:
                await self._dispatch.wait(waiter, "input_audio_buffer.speech_stopped", timeout)
            except TimeoutError:
                return await self._commit_or_clear(respond=respond)
        return "committed"

    async def _commit_or_clear(self, respond: bool) -> SpeechEnd:
        try:
            await self.commit()
        except ServerError as exc:
            if exc.code != "input_audio_buffer_commit_empty":
                raise
            await self._clear()  # under 100 ms: nothing worth an answer
            return "none"
        if respond:
            await self._create_response()
        return "committed"

    async def _clear(self) -> None:
        event_id = self._link.new_id()
        waiter = self._dispatch.expect(lambda e: e.type == "input_audio_buffer.cleared", {event_id})
        self._link.enqueue(client_events.input_audio_clear(event_id))
        await self._dispatch.wait(waiter, "input_audio_buffer.cleared")

    async def send_audio(self, x: Any, rate: int | None, realtime: bool, respond: bool) -> Turn:
        self.refuse_on_call("send_audio()")
        pcm = await _pcm_async(x, rate)
        self._link.require_open()
        config = self._config()
        manual = config.manual_commit
        if manual and pcm.size < SAMPLE_RATE * MIN_COMMIT_MS // 1000:
            raise AudioInputError(
                f"the clip is {pcm.size / SAMPLE_RATE * 1000:.0f} ms long; a commit needs at least {MIN_COMMIT_MS} ms"
            )
        first_turn = len(self._conversation.turns)
        if not manual:
            pcm = with_closing_silence(pcm, config.silence_duration_ms)
        await self._append_paced(pcm, realtime)
        # From here each wait gets the session's whole timeout, counted from the last append.
        if manual:
            turn = await self.commit()
            if config.is_transcription:
                return await self.wait_for_turn(first_turn)
            if not respond:
                return turn
            ids: set[str] = set()
            waiter = self._dispatch.expect(response_done_for(turn), ids)
            try:
                ids.add(await self._create_response())
            except BaseException:
                self._dispatch.forget(waiter)
                raise
            await self._wait_response(waiter, turn)
            return turn
        try:
            return await self.wait_for_turn(first_turn, respond=respond)
        except RequestTimeout as err:
            if len(self._conversation.turns) == first_turn:
                raise RequestTimeout(
                    f"{err}: server VAD detected no speech in the clip; check its level (it may be too "
                    "quiet) or use SessionConfig(turn_detection='manual')",
                    awaited=err.awaited,
                    timeout=err.timeout,
                ) from None
            last = self._conversation.turns[-1]
            raise await abandon_response(lambda: last, err, self._link, self._dispatch) from None

    async def wait_for_turn(self, since: int, *, respond: bool = True, timeout: float | None = None) -> Turn:
        config, dispatch = self._config(), self._dispatch
        if config.is_transcription:
            if not self._transcripts_done(since):
                waiter = dispatch.expect(lambda e: self._transcripts_done(since), set())
                await dispatch.wait(waiter, "conversation.item.input_audio_transcription.completed", timeout)
            return self._conversation.turns[-1]
        wants_response = respond and config.create_response
        if not self._vad_turns_done(since, wants_response):
            waiter = dispatch.expect(lambda e: self._vad_turns_done(since, wants_response), set())
            await dispatch.wait(waiter, "response.done" if wants_response else "speech turn", timeout)
        return self._conversation.turns[-1]

    def _transcripts_done(self, first: int) -> bool:
        """Speech after turn `first` has ended and every transcript of it is complete (or failed)."""
        turns = self._conversation.turns[first:]
        if not turns or not self._vad_turns_done(first, False):
            return False
        return all(
            t.error is not None or (t.user_transcript is not None and not t.user_transcript_pending)
            for t in turns
        )

    def _vad_turns_done(self, first: int, wants_response: bool) -> bool:
        turns = self._conversation.turns[first:]
        if not turns:
            return False
        last = turns[-1]
        if last.user_item_id is None or last.user_speaking:
            return False  # speech still going on
        if not wants_response:
            return True
        return all(t.done for t in turns if t.response_id is not None) and last.response_id is not None


def response_done_for(turn: Turn) -> Predicate:
    def done(event: Any) -> bool:
        return event.type == "response.done" and turn.response_id is not None and turn.done

    return done


def to_wire_pcm(x: Any, rate: int | None) -> np.ndarray:
    """int16 mono 24 kHz samples of `x` (no copy when it is already that); empty audio is an error."""
    if isinstance(x, np.ndarray) and x.dtype == np.int16 and x.ndim == 1 and rate in (None, SAMPLE_RATE):
        pcm = x
    else:
        pcm = audio.to_pcm16(x, rate)
    if pcm.size == 0:
        raise AudioInputError("audio is empty (0 samples); record or load some sound first")
    return pcm


async def _pcm_async(x: Any, rate: int | None) -> np.ndarray:
    if isinstance(x, (str, os.PathLike)) or (isinstance(x, (bytes, bytearray)) and len(x) > 1_000_000):
        return await asyncio.to_thread(to_wire_pcm, x, rate)  # decoding a file must not block the loop
    return to_wire_pcm(x, rate)


async def _written(future: asyncio.Future[Any], timeout: float) -> None:
    """Wait until the queued event `future` stands for is written to the socket."""
    try:
        await asyncio.wait_for(asyncio.shield(future), timeout)
    except asyncio.TimeoutError:
        raise RequestTimeout(
            f"an audio append waited more than {timeout:g} s to be written to the socket "
            "(the connection is stalled; nothing more was queued)",
            awaited="input_audio_buffer.append written",
            timeout=timeout,
        ) from None


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def with_closing_silence(pcm: np.ndarray, silence_ms: int) -> np.ndarray:
    """`pcm` ending in enough silence for server VAD to end the turn (padded only when it does not)."""
    if _ends_in_silence(pcm, silence_ms):
        return pcm
    pad = np.zeros(SAMPLE_RATE * (silence_ms + 300) // 1000, np.int16)
    return np.concatenate([pcm, pad])


def _ends_in_silence(pcm: np.ndarray, silence_ms: int) -> bool:
    tail = pcm[-max(1, SAMPLE_RATE * silence_ms // 1000) :].astype(np.float32)
    if tail.size < SAMPLE_RATE * silence_ms // 1000:
        return False
    return float(np.sqrt(np.mean(tail * tail))) < _SILENCE_RMS
