"""`RealtimeSession`: one realtime WebSocket session on the official openai SDK.

It runs on the caller's event loop (the notebook kernel's) and never blocks it: the receive loop
and the sender are tasks, and every `await` method waits only on events. Every client and server
event becomes a `RealtimeEvent`, goes into `s.conversation` (which keeps the log and the audio),
then to waiting calls, callbacks (`s.on`) and iterators (`s.events()`).

Outgoing messages go through one ordered outbox so `append_audio_nowait` (sync, for widget comm
handlers) and the async methods never reorder each other.

`RealtimeSession` (at the end) is assembled from parts, one concern each: event dispatch and waiting,
requests, audio turns, function calling, and the receive loop with reconnecting.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import itertools
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from . import audio
from .conversation import Conversation, ToolCall, Turn
from .errors import AudioInputError, ServerError, SessionClosed, SessionUpdateError, explain_connect_error
from .events import RealtimeEvent
from .protocol import CHUNK_MS, MIN_COMMIT_MS, SAMPLE_RATE, to_ga_event_type
from .session_config import SessionConfig

try:  # the SDK's reconnection policy and hook types (openai >= 3.x)
    from openai.types.websocket_reconnection import (
        ReconnectingEvent,
        ReconnectingOverrides,
        is_recoverable_close,
    )
except ImportError:  # pragma: no cover - older SDKs: the same shapes, kept here
    from dataclasses import dataclass as _dataclass

    @_dataclass(frozen=True)
    class ReconnectingEvent:  # type: ignore[no-redef]
        attempt: int
        max_attempts: int
        delay: float
        close_code: int
        extra_query: dict
        extra_headers: dict

    ReconnectingOverrides = dict  # type: ignore[misc,assignment]

    def is_recoverable_close(code: int) -> bool:  # type: ignore[misc]
        return code in (1001, 1005, 1006, 1011, 1012, 1013, 1015)


if TYPE_CHECKING:  # pragma: no cover
    from .config import ConnectionConfig

log = logging.getLogger(__name__)

CHUNK_SAMPLES = SAMPLE_RATE * CHUNK_MS // 1000
# A clip "ends in silence" when its last stretch stays below this level (about -50 dBFS).
_SILENCE_RMS = 100.0
_Predicate = Callable[[RealtimeEvent], bool]


class _Waiter:
    """A call waiting for the event that finishes it, or for an error that concerns it."""

    __slots__ = ("done", "event_ids", "future", "catch_any_error")

    def __init__(self, done: _Predicate, event_ids: set[str], catch_any_error: bool) -> None:
        self.done = done
        self.event_ids = event_ids
        self.catch_any_error = catch_any_error
        self.future: asyncio.Future[RealtimeEvent] = asyncio.get_running_loop().create_future()


class _EventDispatch:
    """Where every event goes: the Conversation, waiting calls, callbacks (`on`) and iterators (`events`).

    A part of RealtimeSession (it uses the session's state); split out to keep each class small.
    """

    def on(self, event_type: str, fn: Callable[[RealtimeEvent], Any]) -> Callable[[], None]:
        """Call `fn(event)` for every event of `event_type` (GA or preview name, or "*" for all).

        `fn` runs on the event loop and may be sync or async; its exceptions are logged. Returns a
        function that unsubscribes.
        """
        if not callable(fn):
            raise TypeError(f"on() needs a callable, got {fn!r}")
        key = "*" if event_type == "*" else to_ga_event_type(event_type)
        self._listeners.setdefault(key, []).append(fn)

        def unsubscribe() -> None:
            handlers = self._listeners.get(key, [])
            if fn in handlers:
                handlers.remove(fn)

        return unsubscribe

    async def events(self) -> AsyncIterator[RealtimeEvent]:
        """Every event from now on (client and server), until the session closes."""
        queue: asyncio.Queue = asyncio.Queue()
        self._iterators.add(queue)
        try:
            while True:
                event = await queue.get()
                if event is None:
                    return
                yield event
        finally:
            self._iterators.discard(queue)

    def _record(self, event: RealtimeEvent) -> None:
        """Conversation first (callbacks see updated turns), then waiters, callbacks, iterators."""
        turn = self.conversation.apply(event)
        if event.direction == "server":
            if event.type == "error":
                self._on_error_event(event)
            elif event.type in ("session.created", "session.updated"):
                self.session = event.raw.get("session")
            elif event.type == "response.done" and turn is not None and self._handled_calls(turn):
                task = asyncio.ensure_future(self._answer_tool_calls(turn))
                self._callback_tasks.add(task)
                task.add_done_callback(self._callback_done)
        for waiter in list(self._waiters):
            if not waiter.future.done() and waiter.done(event):
                waiter.future.set_result(event)
        for fn in (*self._listeners.get(event.type, ()), *self._listeners.get("*", ())):
            self._call(fn, event)
        for queue in self._iterators:
            queue.put_nowait(event)

    def _call(self, fn: Callable[[RealtimeEvent], Any], event: RealtimeEvent) -> None:
        try:
            result = fn(event)
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._callback_tasks.add(task)
                task.add_done_callback(self._callback_done)
        except Exception:
            log.exception("realtime callback %r failed on %s", fn, event.type)

    def _callback_done(self, task: asyncio.Task) -> None:
        self._callback_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("realtime callback failed", exc_info=task.exception())

    def _on_error_event(self, event: RealtimeEvent) -> None:
        raw = event.raw
        if not isinstance(raw.get("error"), dict):  # an error without the documented object still counts
            raw = {**raw, "error": {"message": str(raw.get("error") or "") or None}}
        err = ServerError.from_event(raw)
        self.errors.append(err)
        self.last_error = err
        source = raw["error"].get("event_id")
        # The error goes to the call that sent the offending event; an error without an event id goes
        # to the newest call that asked for any error. Otherwise it stays recorded (log, s.errors, turn).
        target = None
        for waiter in reversed(self._waiters):
            if waiter.future.done():
                continue
            if source and source in waiter.event_ids:
                target = waiter
                break
            if not source and waiter.catch_any_error and target is None:
                target = waiter
        if target is not None:
            target.future.set_exception(err)

    def _expect(self, done: _Predicate, event_ids: set[str], *, catch_any_error: bool = False) -> _Waiter:
        """Register before sending, so a fast reply is never missed."""
        waiter = _Waiter(done, event_ids, catch_any_error)
        self._waiters.append(waiter)
        return waiter

    async def _wait(self, waiter: _Waiter, what: str, timeout: float | None = None) -> RealtimeEvent:
        try:
            return await asyncio.wait_for(asyncio.shield(waiter.future), timeout or self.timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(
                f"no {what} from {self.connection.describe()} within {timeout or self.timeout:g} s "
                "(s.event_log shows what did arrive)"
            ) from None
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            if not waiter.future.done():
                waiter.future.cancel()
            elif not waiter.future.cancelled():
                waiter.future.exception()  # mark retrieved

    def _fail_waiters(self, exc: BaseException) -> None:
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.set_exception(exc)

    def _end_iterators(self) -> None:
        for queue in self._iterators:
            queue.put_nowait(None)

    async def wait_for(
        self,
        event_type: str,
        *,
        where: Callable[[RealtimeEvent], bool] | None = None,
        timeout: float | None = None,
    ) -> RealtimeEvent:
        """The next server event of `event_type` (GA or preview name) from now on, optionally matching `where`."""
        key = to_ga_event_type(event_type)
        waiter = self._expect(
            lambda e: e.direction == "server" and e.type == key and (where is None or where(e)), set()
        )
        return await self._wait(waiter, event_type, timeout)


class _Requests:
    """Client events out, in order, through one outbox; text turns and response requests.

    A part of RealtimeSession (it uses the session's state); split out to keep each class small.
    """

    def _new_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids)}"

    def _require_open(self) -> None:
        if self.status != "connected" and not (self.status == "connecting" and self._conn is not None):
            why = f" ({self.last_error})" if isinstance(self.last_error, SessionClosed) else ""
            raise SessionClosed(
                f"the session is {self.status}{why}; use `async with RealtimeSession(...)` or "
                "`await s.reconnect()` first"
            )

    def _enqueue(self, raw: dict, wire: str | None = None) -> asyncio.Future | None:
        """Record a client event and queue it for sending, in order. `wire` is its JSON if already made."""
        self._record(RealtimeEvent.from_raw(raw, "client", self._time()))
        assert self._outbox is not None and self._loop is not None
        future = self._loop.create_future()
        self._outbox.put_nowait((wire if wire is not None else json.dumps(raw), future))
        return future

    async def _send(self, raw: dict) -> str:
        """Send one client event (an event_id is added); returns the event id."""
        self._require_open()
        raw.setdefault("event_id", self._new_id())
        await self._enqueue(raw)
        return raw["event_id"]

    async def _sender(self, conn: Any, outbox: asyncio.Queue) -> None:
        send = getattr(conn, "send_raw", None)  # raw text: the SDK's send() would re-validate every append
        while True:
            data, future = await outbox.get()
            try:
                if send is not None:
                    await send(data)
                else:
                    await conn.send(json.loads(data))
            except asyncio.CancelledError:
                if not future.done():
                    future.set_exception(SessionClosed("the session closed before this event was sent"))
                raise
            except Exception as exc:
                closed = SessionClosed(f"sending failed, the connection is gone: {exc}")
                if not future.done():
                    future.set_exception(closed)
                while not outbox.empty():
                    _, pending = outbox.get_nowait()
                    if not pending.done():
                        pending.set_exception(closed)
                return
            else:
                if not future.done():
                    future.set_result(None)

    async def send_event(self, raw: dict) -> str:
        """Send any client event dict as is (recorded like the others); returns its event_id."""
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            raise ValueError(f"a client event is a dict with a 'type', got {raw!r:.200}")
        return await self._send(dict(raw))

    def _require_responses(self, what: str) -> None:
        if self.config.is_transcription:
            raise ValueError(
                f"{what} asks for a response, and a transcription session has none: send audio "
                "(send_audio, append_audio, a MicRecorder) and read turn.user_transcript, or connect "
                "with SessionConfig(type='realtime')"
            )

    async def create_response(self, **overrides: Any) -> str:
        """Ask for a response now (`overrides` go in `response`); returns the client event id."""
        self._require_responses("create_response()")
        raw: dict[str, Any] = {"type": "response.create"}
        if overrides:
            raw["response"] = overrides
        return await self._send(raw)

    async def cancel(self) -> str:
        """Cancel the response in progress (the server answers `response.done` with status cancelled)."""
        return await self._send({"type": "response.cancel"})

    def _response_done_for(self, turn: Turn) -> _Predicate:
        def done(event: RealtimeEvent) -> bool:
            return event.type == "response.done" and turn.response_id is not None and turn.done

        return done

    async def send_text(self, text: str, *, respond: bool = True) -> Turn:
        """Add a user message and (by default) ask for a response; returns the Turn when the response is done."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("send_text needs a non-empty string")
        self._require_responses("send_text()")
        self._require_open()
        ids: set[str] = set()
        item_id, response_id = self._new_id(), self._new_id()
        ids.update((item_id, response_id))
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        holder: list[Turn] = []
        waiter = self._expect(lambda e: bool(holder) and self._response_done_for(holder[0])(e), ids)
        future = self._enqueue({"type": "conversation.item.create", "event_id": item_id, "item": item})
        holder.append(self.conversation.turns[-1])
        if respond:
            self._enqueue({"type": "response.create", "event_id": response_id})
        await future
        if not respond:
            self._waiters.remove(waiter)
            return holder[0]
        await self._wait(waiter, "response.done")
        return await self._follow_tool_calls(holder[0])


class _AudioTurns:
    """Audio in (appends, commits, whole clips), spoken turns and barge-in.

    A part of RealtimeSession (it uses the session's state); split out to keep each class small.
    """

    def _pcm(self, x: Any, rate: int | None) -> np.ndarray:
        if (
            isinstance(x, np.ndarray)
            and x.dtype == np.int16
            and x.ndim == 1
            and (rate in (None, SAMPLE_RATE))
        ):
            pcm = x  # already wire format: no copy
        else:
            pcm = audio.to_pcm16(x, rate)
        if pcm.size == 0:
            raise AudioInputError("audio is empty (0 samples); record or load some sound first")
        return pcm

    def _append_now(self, pcm: np.ndarray) -> list[asyncio.Future]:
        """Record and queue 100 ms appends of int16 24 kHz audio (sync; on the loop thread)."""
        self._require_open()
        futures = []
        data = pcm.astype("<i2", copy=False).tobytes()
        step = CHUNK_SAMPLES * 2
        for start in range(0, len(data), step):
            chunk = data[start : start + step]
            event_id = self._new_id()
            ref = self.conversation.store_audio("input", chunk)
            wire = (
                '{"type":"input_audio_buffer.append","event_id":"'
                + event_id
                + '","audio":"'
                + base64.b64encode(chunk).decode("ascii")
                + '"}'
            )
            raw = {"type": "input_audio_buffer.append", "event_id": event_id, "audio": ref}
            future = self._enqueue(raw, wire)
            if future is not None:
                futures.append(future)
        return futures

    async def append_audio(self, x: Any, rate: int | None = SAMPLE_RATE) -> None:
        """Append audio to the input buffer in 100 ms chunks (int16/float arrays, bytes or a path)."""
        pcm = await self._pcm_async(x, rate)
        futures = self._append_now(pcm)
        if futures:
            await asyncio.gather(*futures)

    def append_audio_nowait(self, x: Any, rate: int | None = SAMPLE_RATE) -> None:
        """Queue audio for appending without awaiting (for widget comm handlers); keeps call order.

        Safe to call from another thread: the work is then handed to the session's loop.
        """
        pcm = self._pcm(x, rate)
        if self._loop is not None and threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(self._append_quietly, pcm)
        else:
            self._append_quietly(pcm, raise_errors=True)

    def _append_quietly(self, pcm: np.ndarray, raise_errors: bool = False) -> None:
        try:
            for future in self._append_now(pcm):
                future.add_done_callback(_consume)
        except SessionClosed:
            if raise_errors:
                raise
            log.warning("audio dropped: the session is not connected")

    async def _pcm_async(self, x: Any, rate: int | None) -> np.ndarray:
        if isinstance(x, (str, os.PathLike)) or (isinstance(x, (bytes, bytearray)) and len(x) > 1_000_000):
            return await asyncio.to_thread(self._pcm, x, rate)  # decoding a file must not block the loop
        return self._pcm(x, rate)

    async def commit(self) -> Turn:
        """Commit the input buffer (manual turn detection); returns the user's Turn once committed."""
        waiter_ids: set[str] = set()
        waiter = self._expect(lambda e: e.type == "input_audio_buffer.committed", waiter_ids)
        event_id = self._new_id()
        waiter_ids.add(event_id)
        try:
            await self._send({"type": "input_audio_buffer.commit", "event_id": event_id})
        except BaseException:
            self._waiters.remove(waiter)
            raise
        event = await self._wait(waiter, "input_audio_buffer.committed")
        turn = self.conversation._by_user_item.get(event.raw.get("item_id", ""))
        return turn if turn is not None else self.conversation.turns[-1]

    async def send_audio(
        self, x: Any, rate: int | None = None, realtime: bool = False, *, respond: bool = True
    ) -> Turn:
        """Send a clip (path, array of any dtype/rate, or bytes) as the user's turn; returns the Turn.

        Manual turn detection: append, commit, ask for a response. Server VAD: append (plus trailing
        silence when the clip does not end in silence) and wait for the response the VAD triggers.
        `realtime=True` paces the appends like a microphone would.
        """
        pcm = await self._pcm_async(x, rate)
        self._require_open()
        manual = self.config.manual_commit
        if manual and pcm.size < SAMPLE_RATE * MIN_COMMIT_MS // 1000:
            raise AudioInputError(
                f"the clip is {pcm.size / SAMPLE_RATE * 1000:.0f} ms long; a commit needs at least {MIN_COMMIT_MS} ms"
            )
        first_turn = len(self.conversation.turns)
        if not manual:
            pcm = with_closing_silence(pcm, self.config.silence_duration_ms)
        await self._append_paced(pcm, realtime)
        timeout = self.timeout + pcm.size / SAMPLE_RATE
        if manual:
            turn = await self.commit()
            if self.config.is_transcription:
                return await self.wait_for_turn(first_turn, timeout=timeout)
            if not respond:
                return turn
            ids: set[str] = set()
            waiter = self._expect(self._response_done_for(turn), ids)
            ids.add(await self.create_response())
            await self._wait(waiter, "response.done", timeout)
            return turn
        try:
            return await self.wait_for_turn(first_turn, respond=respond, timeout=timeout)
        except TimeoutError:
            if len(self.conversation.turns) == first_turn:
                raise TimeoutError(
                    "server VAD detected no speech in the clip; check its level (it may be too quiet) "
                    "or use SessionConfig(turn_detection='manual')"
                ) from None
            raise

    async def wait_for_turn(self, since: int, *, respond: bool = True, timeout: float | None = None) -> Turn:
        """Wait until speech that started after turn `since` has ended and its response is done
        (in a transcription session: until its transcripts are complete).

        For audio that arrives outside `send_audio` (a microphone, `MicRecorder.feed`): note
        `since = len(s.conversation.turns)` before the speech, then await this. With `respond=False`
        (or `create_response` off) the end of speech is enough.
        """
        if self.config.is_transcription:
            if not self._transcripts_done(since):
                waiter = self._expect(lambda e: self._transcripts_done(since), set())
                await self._wait(waiter, "conversation.item.input_audio_transcription.completed", timeout)
            return self.conversation.turns[-1]
        wants_response = respond and self.config.create_response
        if not self._vad_turns_done(since, wants_response):
            waiter = self._expect(lambda e: self._vad_turns_done(since, wants_response), set())
            await self._wait(waiter, "response.done" if wants_response else "speech turn", timeout)
        return self.conversation.turns[-1]

    def _transcripts_done(self, first: int) -> bool:
        """Speech after turn `first` has ended and every transcript of it is complete (or failed)."""
        turns = self.conversation.turns[first:]
        if not turns or not self._vad_turns_done(first, False):
            return False
        return all(
            t.error is not None or (t.user_transcript is not None and not t.user_transcript_pending)
            for t in turns
        )

    def _vad_turns_done(self, first: int, wants_response: bool) -> bool:
        turns = self.conversation.turns[first:]
        if not turns:
            return False
        last = turns[-1]
        if last.user_item_id is None or (last._user_range is not None and last._user_range[1] is None):
            return False  # speech still going on
        if not wants_response:
            return True
        return all(t.done for t in turns if t.response_id is not None) and last.response_id is not None

    async def _append_paced(self, pcm: np.ndarray, realtime: bool) -> None:
        if not realtime:
            await self.append_audio(pcm)
            return
        start = time.monotonic()
        for i in range(0, pcm.size, CHUNK_SAMPLES):
            await self.append_audio(pcm[i : i + CHUNK_SAMPLES])
            target = start + (i + CHUNK_SAMPLES) / SAMPLE_RATE
            await asyncio.sleep(max(0.0, target - time.monotonic()))

    async def interrupt(self, played_ms: float, item_id: str | None = None) -> Turn:
        """Stop the assistant: cancel its response if still running and truncate its audio at `played_ms`.

        `item_id` names the assistant item that was playing (default: the latest). A player should
        pass it: by the time this runs, the server may already have started the next reply.
        `played_ms` is clamped to the audio actually received, since the server rejects a truncation
        beyond it. Returns the truncated Turn.
        """
        if not isinstance(played_ms, (int, float)) or played_ms != played_ms:
            raise ValueError(f"played_ms must be a number of milliseconds, got {played_ms!r}")
        turns = [t for t in reversed(self.conversation.turns) if t.item_id is not None]
        if item_id is not None:
            turns = [t for t in turns if t.item_id == item_id]
            if not turns:
                raise ValueError(f"nothing to interrupt: no assistant item {item_id!r} in this conversation")
        if not turns:
            raise ValueError("nothing to interrupt: no assistant item has arrived yet")
        turn = turns[0]
        # With server VAD's interrupt_response, speech the server heard after this turn already
        # cancels it; a second cancel would only earn a response_cancel_not_active error.
        server_cancels = (
            not self.config.manual_commit
            and self.config.interrupt_response
            and any(t.speech_start_ms is not None for t in self.conversation.turns[turn.index + 1 :])
        )
        if turn.status == "in_progress" and not server_cancels:
            await self.cancel()
        audio_end_ms = int(max(0.0, min(float(played_ms), turn.duration_s * 1000.0)))
        event_id = self._new_id()
        item_id = turn.item_id
        waiter = self._expect(
            lambda e: e.type == "conversation.item.truncated" and e.raw.get("item_id") == item_id, {event_id}
        )
        await self._send(
            {
                "type": "conversation.item.truncate",
                "event_id": event_id,
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": audio_end_ms,
            }
        )
        await self._wait(waiter, "conversation.item.truncated")
        return turn


class _ToolCalling:
    """Function calls: recorded on turns, answered by `on_tool` handlers or `send_tool_output`.

    A part of RealtimeSession (it uses the session's state); split out to keep each class small.
    """

    def on_tool(self, name: str, fn: Callable[..., Any]) -> Callable[[], None]:
        """Answer the assistant's calls of function `name` with `fn(**arguments)`, then ask for its reply.

        Declare the function to the model in `SessionConfig(tools=[...])`. `fn` may be sync or async
        and return a string or anything JSON-serialisable; an exception becomes the output
        `{"error": "..."}` so the assistant can say what went wrong. `send_text` then returns the
        reply that follows the call. Returns a function that removes the handler.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"on_tool needs the function's name, got {name!r}")
        if not callable(fn):
            raise TypeError(f"on_tool needs a callable for {name!r}, got {type(fn).__name__}")
        self._tool_handlers[name] = fn

        def remove() -> None:
            if self._tool_handlers.get(name) is fn:
                del self._tool_handlers[name]

        return remove

    async def send_tool_output(self, call: ToolCall | str, output: Any, *, respond: bool = True) -> Turn:
        """Answer a function call (one of `turn.tool_calls`, or its call_id) with `output`.

        `output` is a string or anything JSON-serialisable. Returns the Turn of the assistant's reply
        when it is done; with `respond=False` (more calls to answer first) the Turn of the call.
        """
        call_id = call.call_id if isinstance(call, ToolCall) else call
        owner = next(
            (t for t in reversed(self.conversation.turns) for c in t.tool_calls if c.call_id == call_id), None
        )
        if owner is None:
            raise ValueError(
                f"no function call {call_id!r} in this conversation; answer one of turn.tool_calls"
            )
        if not isinstance(output, str):
            try:
                output = json.dumps(output)
            except (TypeError, ValueError) as exc:
                raise TypeError(
                    f"a tool output must be a string or JSON-serialisable, got {type(output).__name__}: {exc}"
                ) from None
        self._require_open()
        item_id, response_id = self._new_id(), self._new_id()
        turns = self.conversation.turns
        first = len(turns)
        waiter = self._expect(
            lambda e: e.type == "response.done" and len(turns) > first and turns[first].done,
            {item_id, response_id},
        )
        item = {"type": "function_call_output", "call_id": call_id, "output": output}
        future = self._enqueue({"type": "conversation.item.create", "event_id": item_id, "item": item})
        if respond:
            self._enqueue({"type": "response.create", "event_id": response_id})
        await future
        if not respond:
            self._waiters.remove(waiter)
            return owner
        await self._wait(waiter, "response.done")
        return turns[first]

    def _handled_calls(self, turn: Turn) -> list[ToolCall]:
        """The calls of `turn` that on_tool handlers answer (all of them, or none are answered)."""
        calls = turn.tool_calls
        if turn.status != "completed" or not calls or any(c.name not in self._tool_handlers for c in calls):
            return []
        return calls

    def _tool_reply(self, turn: Turn) -> asyncio.Future:
        """The Turn that follows `turn`'s handled calls: one future, made by whoever asks first."""
        assert self._loop is not None and turn.response_id is not None
        future = self._tool_replies.get(turn.response_id)
        if future is None:
            future = self._tool_replies[turn.response_id] = self._loop.create_future()
            future.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved: logged elsewhere
        return future

    async def _answer_tool_calls(self, turn: Turn) -> None:
        reply = self._tool_reply(turn)
        try:
            calls = self._handled_calls(turn)
            for i, call in enumerate(calls):
                follow = await self.send_tool_output(
                    call, await self._run_tool(call), respond=i == len(calls) - 1
                )
            if not reply.done():
                reply.set_result(follow)
        except Exception as exc:
            if not reply.done():
                reply.set_exception(exc)
            raise

    async def _run_tool(self, call: ToolCall) -> str:
        try:
            result = self._tool_handlers[call.name](**call.args)
            if inspect.isawaitable(result):
                result = await result
            return result if isinstance(result, str) else json.dumps(result)
        except Exception as exc:
            log.warning("tool %s(%s) failed: %s: %s", call.name, call.arguments, type(exc).__name__, exc)
            return json.dumps({"error": f"{type(exc).__name__}: {exc}"})

    async def _follow_tool_calls(self, turn: Turn) -> Turn:
        """`turn`, or the reply after the calls on_tool handlers answered (and after its calls ...)."""
        while self._handled_calls(turn):
            try:
                turn = await asyncio.wait_for(asyncio.shield(self._tool_reply(turn)), self.timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(
                    f"no reply after the tool calls {[c.name for c in turn.tool_calls]} within {self.timeout:g} s "
                    "(a handler may still be running; s.event_log shows what did arrive)"
                ) from None
        return turn


class _Reconnecting:
    """The receive loop, a lost connection, and reconnecting (by hand or by the SDK's policy).

    A part of RealtimeSession (it uses the session's state); split out to keep each class small.
    """

    async def reconnect(self, *, replay: bool = True) -> RealtimeSession:
        """Open a new connection and send the current session config again.

        The recorded conversation continues. The service starts a new session that remembers nothing,
        so with `replay=True` what was said is created again as text items, under the same item ids:
        the user's words (or their transcripts), what the assistant said up to where it was cut off,
        and function calls with their outputs. Audio is not sent again.
        """
        await self._teardown()
        self.status = "closed"
        await self.connect()
        if replay and not self.config.is_transcription:  # a transcription session takes no items
            await self._replay_history()
        return self

    async def _replay_history(self) -> None:
        items = history_items(self.conversation.turns, self.connection.protocol)
        if not items:
            return
        last = next(item["id"] for item in reversed(items) if "id" in item)  # outputs have none
        # `added` exists in both protocols (preview: conversation.item.created); `done` is GA only.
        waiter = self._expect(lambda e: e.type == "conversation.item.added" and e.item_id == last, set())
        for item in items:
            waiter.event_ids.add(await self._send({"type": "conversation.item.create", "item": item}))
        try:
            await self._wait(waiter, "conversation.item.added")
        except ServerError as exc:  # the model misses some context; the session itself is fine
            log.warning("replaying the conversation after a reconnect was incomplete: %s", exc)

    async def _receive(self, conn: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            while True:
                data = await conn.recv_bytes()
                try:
                    raw = json.loads(data)
                    event = RealtimeEvent.from_raw(raw, "server", self._time())
                except ValueError:
                    log.warning("ignoring a server message that is not a JSON event: %.200r", data)
                    continue
                try:
                    self._record(event)
                except Exception:  # one event this client misreads must not end the session
                    log.exception("handling the server event %s failed; it stays in s.event_log", event.type)
        except asyncio.CancelledError:
            raise
        except ConnectionClosed as exc:
            self._connection_lost(exc)
        except Exception as exc:  # any other failure also ends the session, visibly
            log.exception("the realtime receive loop failed")
            self._connection_lost(exc)

    def _connection_lost(self, exc: BaseException) -> None:
        if self._closing:
            return
        closed = _closed_error(exc)
        self.last_error = closed
        self.status = "failed" if self.status == "connecting" else "closed"
        log.warning("%s", closed)
        self._fail_waiters(closed)
        self._end_iterators()
        if self.auto_reconnect and self.status == "closed" and is_recoverable_close(closed.code or 1006):
            task = asyncio.ensure_future(self._auto_reconnect(closed.code or 1006))
            self._callback_tasks.add(task)
            task.add_done_callback(self._callback_tasks.discard)

    async def _auto_reconnect(self, close_code: int) -> None:
        """Reopen with exponential backoff, asking `on_reconnecting` before each attempt."""
        for attempt in range(1, self.max_reconnect_attempts + 1):
            delay = min(0.5 * 2 ** (attempt - 1), 8.0)
            if self.on_reconnecting is not None:
                event = ReconnectingEvent(
                    attempt=attempt,
                    max_attempts=self.max_reconnect_attempts,
                    delay=delay,
                    close_code=close_code,
                    extra_query=dict(self._extra_query),
                    extra_headers=dict(self._extra_headers),
                )
                try:
                    overrides = self.on_reconnecting(event) or {}
                except Exception:
                    log.exception("on_reconnecting failed; not reconnecting")
                    return
                if overrides.get("abort"):
                    log.info("on_reconnecting aborted the reconnect (attempt %d)", attempt)
                    return
                self._extra_query = dict(overrides.get("extra_query", self._extra_query))
                self._extra_headers = dict(overrides.get("extra_headers", self._extra_headers))
            await asyncio.sleep(delay)
            if self._closing:
                return
            try:
                await self.reconnect()
                return
            except Exception as exc:
                log.warning("reconnect attempt %d/%d failed: %s", attempt, self.max_reconnect_attempts, exc)
        log.error("gave up reconnecting after %d attempts", self.max_reconnect_attempts)


class RealtimeSession(_EventDispatch, _Requests, _AudioTurns, _ToolCalling, _Reconnecting):
    """Async context manager over one realtime session (GA or preview protocol).

    ```python
    async with RealtimeSession(ConnectionConfig.for_emulator()) as s:
        turn = await s.send_text("Hello")
    ```
    """

    def __init__(
        self,
        connection: ConnectionConfig | None = None,
        session: SessionConfig | None = None,
        *,
        conversation: Conversation | None = None,
        timeout: float = 60.0,
        auto_reconnect: bool = False,
        on_reconnecting: Callable[[ReconnectingEvent], ReconnectingOverrides | None] | None = None,
        max_reconnect_attempts: int = 5,
    ) -> None:
        """`auto_reconnect` (or an `on_reconnecting` handler) reopens the session after a recoverable
        close (the SDK's policy: 1001, 1006, 1011-1014), with backoff, up to `max_reconnect_attempts`.
        `on_reconnecting(event)` is the SDK's hook: it sees each attempt and may return
        `{"abort": True}` or `extra_query` / `extra_headers` for the next handshake."""
        if connection is None:
            from .config import ConnectionConfig

            connection = ConnectionConfig.from_env()
        if session is not None and not isinstance(session, SessionConfig):
            raise TypeError(f"session must be a SessionConfig, got {type(session).__name__}")
        self.connection = connection
        self.config: SessionConfig = session if session is not None else SessionConfig()
        self.conversation = conversation if conversation is not None else Conversation()
        self.event_log: list[RealtimeEvent] = self.conversation.events
        self.errors: list[ServerError] = []
        self.session: dict | None = None  # the server's latest session object
        self.status = "closed"
        self.last_error: BaseException | None = None
        self.timeout = timeout
        if max_reconnect_attempts < 1:
            raise ValueError(f"max_reconnect_attempts must be at least 1, got {max_reconnect_attempts}")
        self.auto_reconnect = auto_reconnect or on_reconnecting is not None
        self.on_reconnecting = on_reconnecting
        self.max_reconnect_attempts = max_reconnect_attempts
        self._extra_query: dict = {}
        self._extra_headers: dict = {}
        self._listeners: dict[str, list[Callable[[RealtimeEvent], Any]]] = {}
        self._iterators: set[asyncio.Queue] = set()
        self._waiters: list[_Waiter] = []
        self._callback_tasks: set[asyncio.Task] = set()
        self._tool_handlers: dict[str, Callable[..., Any]] = {}
        self._tool_replies: dict[str, asyncio.Future] = {}  # response id of a call -> Turn replying to it
        self._manager: Any = None
        self._conn: Any = None
        self._recv_task: asyncio.Task | None = None
        self._send_task: asyncio.Task | None = None
        self._outbox: asyncio.Queue | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._t0: float | None = None
        self._ids = itertools.count(1)
        self._id_prefix = "evt_" + secrets.token_hex(3) + "_"
        self._closing = False

    async def __aenter__(self) -> RealtimeSession:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> RealtimeSession:
        """Open the WebSocket, wait for `session.created`, send the session config, wait for `session.updated`."""
        if self.status in ("connecting", "connected"):
            raise RuntimeError("this RealtimeSession is already connected; use reconnect() to start over")
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self.status = "connecting"
        self._closing = False
        try:
            client = self.connection.async_client()
            self._manager = self.connection.realtime_connect(
                client,
                intent="transcription" if self.config.is_transcription else None,
                extra_query=self._extra_query,
                extra_headers=self._extra_headers,
            )
            try:
                self._conn = await asyncio.wait_for(self._manager.__aenter__(), self.timeout)
            except asyncio.TimeoutError:
                raise SessionClosed(
                    f"Opening the WebSocket to {self.connection.describe()} took longer than {self.timeout:g} s; "
                    "check the endpoint and your network"
                ) from None
            except Exception as exc:
                raise explain_connect_error(exc, self.connection) from exc
            if self._t0 is None:
                self._t0 = time.monotonic()
            self._outbox = asyncio.Queue()
            created = self._expect(lambda e: e.type == "session.created", set(), catch_any_error=True)
            self._recv_task = asyncio.create_task(self._receive(self._conn), name="realtime-receive")
            self._send_task = asyncio.create_task(
                self._sender(self._conn, self._outbox), name="realtime-send"
            )
            await self._wait(created, "session.created")
            await self.update(self.config)
        except BaseException as exc:
            self.status = "failed"
            self.last_error = exc if isinstance(exc, Exception) else None
            await self._teardown()
            self.status = "failed"
            raise
        self.status = "connected"
        return self

    async def close(self) -> None:
        """Close the WebSocket (the conversation and event log stay)."""
        if self.status == "closed" and self._conn is None:
            return
        self._closing = True
        await self._teardown()
        self.status = "closed"
        self._fail_waiters(SessionClosed("the session was closed", code=1000))
        self._end_iterators()

    async def _teardown(self) -> None:
        tasks = [t for t in (self._recv_task, self._send_task) if t is not None]
        current = asyncio.current_task()
        for task in tasks:
            if task is not current:
                task.cancel()
        for task in tasks:
            if task is not current:
                try:
                    await task
                except BaseException:  # cancelled or already failed: recorded elsewhere
                    pass
        self._recv_task = self._send_task = None
        manager, self._manager, self._conn = self._manager, None, None
        if manager is not None:
            try:
                await manager.__aexit__(None, None, None)
            except Exception:  # the socket may already be gone
                log.debug("closing the realtime connection failed", exc_info=True)

    def _time(self) -> float:
        return 0.0 if self._t0 is None else time.monotonic() - self._t0

    async def update(self, session: SessionConfig) -> dict:
        """Send `session.update`; returns the server's session, or raises SessionUpdateError (old settings stay)."""
        if not isinstance(session, SessionConfig):
            raise TypeError(f"update() needs a SessionConfig, got {type(session).__name__}")
        if session.type != self.config.type and self._conn is not None:
            raise ValueError(
                f"SessionConfig.type={session.type!r}: the session type is chosen when connecting "
                f"(this one is {self.config.type!r}); open a new RealtimeSession with that config"
            )
        protocol = self.connection.protocol
        body = session.to_session(protocol)
        event_id = self._new_id()
        # Preview transcription sessions answer with transcription_session.updated, read as session.updated.
        waiter = self._expect(lambda e: e.type == "session.updated", {event_id}, catch_any_error=True)
        try:
            await self._send(
                {"type": session.update_event_type(protocol), "event_id": event_id, "session": body}
            )
            event = await self._wait(waiter, "session.updated")
        except ServerError as err:
            if isinstance(err, SessionUpdateError):
                raise
            raise SessionUpdateError(str(err), code=err.code, param=err.param, event=err.event) from None
        self.config = session
        return event.raw.get("session") or {}

    def __repr__(self) -> str:
        return (
            f"<RealtimeSession {self.status} {self.connection.describe()} turns={len(self.conversation.turns)} "
            f"events={len(self.event_log)}>"
        )


def history_items(turns: list[Turn], protocol: str) -> list[dict]:
    """What was said in `turns`, as conversation items a new server session can be given."""
    assistant_part = "output_text" if protocol == "ga" else "text"
    items: list[dict] = []
    for turn in turns:
        said = turn.user_text or turn.user_transcript
        if said and turn.user_item_id:
            content = [{"type": "input_text", "text": said}]
            items.append({"id": turn.user_item_id, "type": "message", "role": "user", "content": content})
        for call in turn.tool_calls:
            call_item = {"type": "function_call", "call_id": call.call_id, "name": call.name}
            items.append({"id": call.item_id, **call_item, "arguments": call.arguments})
            if call.output is not None:
                items.append({"type": "function_call_output", "call_id": call.call_id, "output": call.output})
        heard = turn.heard_transcript or turn.text
        if heard and turn.item_id:
            content = [{"type": assistant_part, "text": heard}]
            items.append({"id": turn.item_id, "type": "message", "role": "assistant", "content": content})
    return items


def _consume(future: asyncio.Future) -> None:
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


def _closed_error(exc: BaseException) -> SessionClosed:
    rcvd = getattr(exc, "rcvd", None)
    code = getattr(rcvd, "code", None) if rcvd is not None else None
    reason = getattr(rcvd, "reason", "") if rcvd is not None else ""
    if code is None:
        code = 1006
    if code == 1001:
        message = (
            f"The service ended the session (close 1001: {reason or 'going away'}). Azure realtime sessions "
            "last at most 30 minutes. What was recorded is kept in s.conversation; `await s.reconnect()` "
            "starts a new session."
        )
    elif code == 1006:
        message = (
            "The connection dropped (no close frame, code 1006). What was recorded is kept in "
            "s.conversation; `await s.reconnect()` opens a new session."
        )
    else:
        message = (
            f"The connection closed (code {code}{': ' + reason if reason else ''}). What was recorded is kept "
            "in s.conversation; `await s.reconnect()` opens a new session."
        )
    err = SessionClosed(message, code=code, reason=reason)
    if not isinstance(exc, SessionClosed):
        err.__cause__ = exc
    return err
