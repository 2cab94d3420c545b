"""Replaying a cassette: each connection gets the next recorded session, matched turn by turn.

The recorded server events go out in order, with their recorded gaps (divided by `speed`; 0 sends
them at once); each recorded client event waits for the client's next one, which must be of the
same kind (and, for a user message, the same text). Audio is matched by duration within a
tolerance, never by bytes. On divergence the client gets an `error` event with the code
`cassette_mismatch` naming the turn and the difference, and from then on every event it sends gets
that error again: nothing is made up. Audio chat completions replay request by request the same
way, with HTTP 400 on divergence. The format comes from `cassette_format` (docs/cassettes.md).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from .. import cassette_format as fmt
from ..protocol import Protocol

MISMATCH = "cassette_mismatch"
# A client that sends no audio for this long, where the recording has more, has stopped sending.
AUDIO_PAUSE_S = 2.0
# Server events that end the user's audio turn: by then the run's audio should be all in.
_AUDIO_TURN_ENDS = {"input_audio_buffer.speech_stopped", "input_audio_buffer.committed"}
RERECORD = f"re-record the cassette ({fmt.MODE_VARIABLE}=all, or record_mode='all')"


def tolerance_s(seconds: float) -> float:
    """How far a run's audio may differ in length from the recording's: 0.5 s, or 20 % of long audio."""
    return max(0.5, 0.2 * seconds)


class Diverged(Exception):
    """The client's run left the recording; the message says where and how."""


class Replay:
    """A cassette being served: which session the next connection gets, which chat request is next."""

    def __init__(self, folder: str | os.PathLike[str], speed: float = 1.0) -> None:
        if speed < 0:
            raise ValueError(f"replay speed must be >= 0 (0 = no waiting), got {speed}")
        self.folder = Path(folder).expanduser().resolve()
        self.info = fmt.read_info(self.folder)
        self.speed = speed
        self.tracks = fmt.AudioTracks(self.folder)
        self.sessions_served = 0
        self.chat = fmt.read_jsonl(self.folder / fmt.CHAT_FILE)
        self.chat_served = 0

    def count_sessions(self) -> int:
        return len(list(self.folder.glob("realtime-*.jsonl")))

    async def serve(self, ws: web.WebSocketResponse, protocol: Protocol) -> None:
        self.sessions_served += 1
        await ReplaySession(self, ws, protocol, self.sessions_served).run()

    # -- audio chat completions -------------------------------------------------------------
    def answer_chat(self, body: dict[str, Any]) -> tuple[int, Any]:
        """(HTTP status, the recorded reply or an error body) for the next request."""
        number = self.chat_served + 1
        if self.chat_served >= len(self.chat):
            return _chat_error(
                f"request {number}: the cassette {self.folder.name} holds {len(self.chat)} audio chat "
                f"completion(s) and this run asks for another; {RERECORD}"
            )
        recorded = self.chat[self.chat_served]
        problem = _chat_difference(recorded["request"], body)
        if problem:
            return _chat_error(f"request {number} differs from the recording: {problem}; {RERECORD}")
        self.chat_served += 1
        return 200, fmt.restore_chat_reply(recorded["reply"], self.tracks)


def _chat_error(message: str) -> tuple[int, Any]:
    return 400, {"error": {"message": message, "type": "invalid_request_error", "code": MISMATCH}}


def _texts(message: dict[str, Any]) -> list[str]:
    content = message.get("content")
    if isinstance(content, str):
        return [content]
    return [p.get("text", "") for p in content or [] if isinstance(p, dict) and p.get("type") == "text"]


def _chat_difference(recorded: dict[str, Any], live: dict[str, Any]) -> str | None:
    if bool(recorded.get("stream")) != bool(live.get("stream")):
        return f"stream={bool(recorded.get('stream'))} was recorded, this run sends stream={bool(live.get('stream'))}"
    rec_msgs, live_msgs = recorded.get("messages") or [], live.get("messages") or []
    if len(rec_msgs) != len(live_msgs):
        return f"{len(rec_msgs)} messages were recorded, this run sends {len(live_msgs)}"
    for n, (rec, got) in enumerate(zip(rec_msgs, live_msgs, strict=True), 1):
        if rec.get("role") != got.get("role"):
            return f"message {n} is from {rec.get('role')!r} in the recording, {got.get('role')!r} now"
        if _texts(rec) != _texts(got):
            return f"message {n} says {_texts(rec)!r} in the recording, {_texts(got)!r} now"
        rec_audio = fmt.request_audio_seconds({"messages": [rec]})
        live_audio = fmt.request_audio_seconds({"messages": [got]})
        if len(rec_audio) != len(live_audio):
            return f"message {n} has {len(rec_audio)} audio part(s) in the recording, {len(live_audio)} now"
        for a, b in zip(rec_audio, live_audio, strict=True):
            if abs(a - b) > tolerance_s(a):
                return f"message {n}'s audio lasts {b:.2f} s, the recording's {a:.2f} s"
    return None


class ReplaySession:
    """One WebSocket answered from the `index`-th recorded session."""

    def __init__(self, replay: Replay, ws: web.WebSocketResponse, protocol: Protocol, index: int) -> None:
        self.replay = replay
        self.ws = ws
        self.protocol = protocol
        self.file = fmt.realtime_file(index)
        self.index = index
        self.inbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.ids: dict[str, str] = {}  # recorded id -> this run's id
        self.turn = 1
        self.diverged: str | None = None
        self._peeked: dict[str, Any] | None = None

    async def run(self) -> None:
        reader = asyncio.ensure_future(self._read())
        try:
            await self._play()
            while self.diverged is not None or not self.ws.closed:  # after the end: refuse, never invent
                event = await self._next()
                if event is None:
                    break
                if event.get("type") != "input_audio_buffer.append" or self.diverged:
                    await self._refuse(
                        event,
                        self.diverged
                        or f"turn {self.turn}: the recording of this session ({self.file}) ends here, and "
                        f"this run sent {event.get('type')!r}; {RERECORD}",
                    )
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            reader.cancel()
            if not self.ws.closed:
                await self.ws.close()

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == WSMsgType.TEXT:
                try:
                    event = json.loads(msg.data)
                except ValueError:
                    continue
                if isinstance(event, dict):
                    await self.inbox.put(event)
        await self.inbox.put(None)

    async def _next(self) -> dict[str, Any] | None:
        if self._peeked is not None:
            event, self._peeked = self._peeked, None
            return event
        return await self.inbox.get()

    async def _send(self, event: dict[str, Any]) -> None:
        if self.ws.closed:
            raise ConnectionResetError()
        await self.ws.send_str(json.dumps(event))

    async def _refuse(self, event: dict[str, Any], message: str) -> None:
        self.diverged = message
        error = {"type": "invalid_request_error", "code": MISMATCH, "message": message, "param": None}
        if isinstance(event.get("event_id"), str):
            error["event_id"] = event["event_id"]
        await self._send({"type": "error", "event_id": f"event_replay_{self.turn}", "error": error})

    async def _play(self) -> None:
        recorded_protocol = self.replay.info.get("protocol", "ga")
        path = self.replay.folder / self.file
        if recorded_protocol != self.protocol:
            self.diverged = (
                f"the cassette was recorded with the {recorded_protocol} protocol and this run connects "
                f"with {self.protocol}; connect with protocol={recorded_protocol!r} or {RERECORD}"
            )
        elif not path.is_file():
            self.diverged = (
                f"the cassette {self.replay.folder.name} holds {self.replay.count_sessions()} realtime "
                f"session(s) and this run opens session {self.index}; {RERECORD}"
            )
        if self.diverged:
            await self._refuse({}, self.diverged)
            return
        loop = asyncio.get_running_loop()
        anchor_wall, anchor_t = loop.time(), 0.0
        audio_recorded = audio_sent = 0.0
        lines = fmt.read_jsonl(path)
        for number, line in enumerate(lines, 1):
            event, t = line["event"], float(line["t"])
            where = f"turn {self.turn} ({self.file} line {number})"
            if line["dir"] == "server":
                if audio_recorded and event.get("type") in _AUDIO_TURN_ENDS:
                    audio_sent += await self._drain_appends()
                    if audio_sent > audio_recorded + tolerance_s(audio_recorded):
                        await self._refuse(
                            {},
                            f"{where}: this run sent {audio_sent:.2f} s of audio where the recording "
                            f"has {audio_recorded:.2f} s; {RERECORD}",
                        )
                        return
                if self.replay.speed > 0:
                    delay = (t - anchor_t) / self.replay.speed - (loop.time() - anchor_wall)
                    if delay > 0:
                        await asyncio.sleep(delay)
                await self._send(fmt.restore_audio(self._remap(event), self.replay.tracks))
                if str(event.get("type")) == "response.done":
                    self.turn += 1
                continue
            if event.get("type") == "input_audio_buffer.append":
                audio_recorded += fmt.ref_seconds(event.get("audio"))
                while audio_sent < audio_recorded - tolerance_s(audio_recorded):
                    try:
                        got = await asyncio.wait_for(self._next(), AUDIO_PAUSE_S)
                    except asyncio.TimeoutError:
                        got = {"type": "nothing more for a while"}
                    if got is None:
                        return
                    if got.get("type") != "input_audio_buffer.append":
                        await self._refuse(
                            got,
                            f"{where}: the recording sends {audio_recorded + _audio_ahead(lines, number):.2f} s "
                            f"of audio here and this run sent {audio_sent:.2f} s, then {got.get('type')!r}; "
                            f"{RERECORD}",
                        )
                        return
                    audio_sent += fmt.ref_seconds(got.get("audio"))
                anchor_wall, anchor_t = loop.time(), t
                continue
            got = await self._next()
            while got is not None and got.get("type") == "input_audio_buffer.append":
                audio_sent += fmt.ref_seconds(got.get("audio"))
                got = await self._next()
            if got is None:
                return
            problem = None
            if abs(audio_sent - audio_recorded) > tolerance_s(audio_recorded):
                problem = (
                    f"{where}: this run sent {audio_sent:.2f} s of audio before {got.get('type')!r}, "
                    f"the recording {audio_recorded:.2f} s"
                )
            problem = problem or self._difference(event, got, where)
            if problem:
                await self._refuse(got, f"{problem}; {RERECORD}")
                return
            audio_recorded = audio_sent = 0.0
            self._learn(event, got)
            anchor_wall, anchor_t = loop.time(), t

    async def _drain_appends(self) -> float:
        """The seconds of audio already sent and waiting here (a clip comes at once, a microphone
        in real time: only a chunk or two wait), so a far longer clip shows before its turn ends."""
        await asyncio.sleep(0.02)
        seconds = 0.0
        while self._peeked is None and not self.inbox.empty():
            got = self.inbox.get_nowait()
            if got is None or got.get("type") != "input_audio_buffer.append":
                self._peeked = got
                if got is None:
                    self.inbox.put_nowait(None)
                break
            seconds += fmt.ref_seconds(got.get("audio"))
        return seconds

    def _difference(self, recorded: dict[str, Any], got: dict[str, Any], where: str) -> str | None:
        if recorded.get("type") != got.get("type"):
            return f"{where}: the recording has the client event {recorded.get('type')!r} here, this run sent {got.get('type')!r}"
        if recorded.get("type") != "conversation.item.create":
            return None
        rec_item, got_item = recorded.get("item") or {}, got.get("item") or {}
        for key in ("type", "role", "call_id", "name"):
            recorded_value = rec_item.get(key)
            if self.ids.get(str(recorded_value), recorded_value) != got_item.get(key):
                return f"{where}: the item's {key} is {got_item.get(key)!r}, the recording's {rec_item.get(key)!r}"
        rec_texts, got_texts = _item_texts(rec_item), _item_texts(got_item)
        if rec_texts != got_texts:
            return f"{where}: the user's text is {got_texts!r}, the recording's {rec_texts!r}"
        rec_audio, got_audio = _item_audio(rec_item), _item_audio(got_item)
        if abs(rec_audio - got_audio) > tolerance_s(rec_audio):
            return f"{where}: the item's audio lasts {got_audio:.2f} s, the recording's {rec_audio:.2f} s"
        return None

    def _learn(self, recorded: dict[str, Any], got: dict[str, Any]) -> None:
        pairs = [(recorded.get("event_id"), got.get("event_id"))]
        pairs.append(((recorded.get("item") or {}).get("id"), (got.get("item") or {}).get("id")))
        for old, new in pairs:
            if isinstance(old, str) and isinstance(new, str) and old != new:
                self.ids[old] = new

    def _remap(self, value: Any) -> Any:
        """Recorded ids the client chose (event and item ids) become this run's."""
        if not self.ids:
            return value
        if isinstance(value, str):
            return self.ids.get(value, value)
        if isinstance(value, dict):
            return {k: self._remap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._remap(v) for v in value]
        return value


def _item_texts(item: dict[str, Any]) -> list[str]:
    return [
        str(p.get("text"))
        for p in item.get("content") or []
        if isinstance(p, dict) and p.get("type") in ("input_text", "text")
    ]


def _item_audio(item: dict[str, Any]) -> float:
    return sum(fmt.ref_seconds(p.get("audio")) for p in item.get("content") or [] if isinstance(p, dict))


def _audio_ahead(lines: list[dict[str, Any]], number: int) -> float:
    """Seconds of audio the recording appends after line `number`, up to its next other client event."""
    seconds = 0.0
    for line in lines[number:]:
        if line["dir"] != "client":
            continue
        if line["event"].get("type") != "input_audio_buffer.append":
            break
        seconds += fmt.ref_seconds(line["event"].get("audio"))
    return seconds
