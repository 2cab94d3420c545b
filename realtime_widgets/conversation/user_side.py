"""How the user's side of a turn is read: typed items, audio commits, VAD, input transcripts."""

from __future__ import annotations

from typing import Any

from ..events import RealtimeEvent, parse_audio_ref
from ..protocol import SAMPLE_RATE
from .book import TurnBook
from .parts import error_dict, input_texts, ms, parts, text
from .stream import PcmStream
from .turn import Turn


class UserSide:
    """Reads user-side events into the book's turns, with the input stream for sample positions.

    Holds the input clock: where the uncommitted buffer starts (`mark`) and where the current
    connection's server clock (`audio_start_ms` ...) starts (`epoch`), both as input samples.
    """

    def __init__(self, book: TurnBook, input_stream: PcmStream) -> None:
        self._book = book
        self._input = input_stream
        self.mark = 0
        self.epoch = 0
        self.transcribing = False  # input transcription on, per the last session.created/updated
        self.transcription_only = False  # a transcription session: turns end with their transcript
        self.tapped = False  # a WebRTC call's microphone is tapped: its clock starts at the first tap

    # ------------------------------------------------------------------ session and clock
    def new_connection(self) -> None:
        """A new connection: the server's audio clock starts again at the input heard so far."""
        if self.tapped:  # a WebRTC call's clock runs from its first audio, whoever joins it and when
            return
        self.epoch = len(self._input)
        self.mark = len(self._input)

    def session_settings(self, event: RealtimeEvent) -> Turn | None:
        session = event.raw.get("session") or {}
        if isinstance(session.get("model"), str) and session["model"]:
            self._book.model = session["model"]
        ga = ((session.get("audio") or {}).get("input") or {}).get("transcription")
        self.transcribing = bool(ga or session.get("input_audio_transcription"))
        self.transcription_only = (
            session.get("type") == "transcription"
            or session.get("object") == "realtime.transcription_session"
            or event.wire_type.startswith("transcription_session.")
        )
        return None

    def _sample_at_ms(self, value: float) -> int:
        return self.epoch + int(round(value * SAMPLE_RATE / 1000))

    def _input_ms(self) -> float:
        """Audio sent on this connection, in ms: where the server's clock is now."""
        return (len(self._input) - self.epoch) * 1000 / SAMPLE_RATE

    # ------------------------------------------------------------------ client events
    def client_item_create(self, event: RealtimeEvent) -> Turn | None:
        book = self._book
        item = event.raw.get("item") or {}
        if item.get("type") == "function_call_output":
            return self._tool_output(item)
        if item.get("type", "message") != "message" or item.get("role") != "user":
            return None
        if item.get("id") in book.by_user_item:  # said before: history replayed after a reconnect
            return book.by_user_item[item["id"]]
        texts = input_texts(item)
        turn = book.new_turn(user_text="".join(texts) if texts else None, origin_s=event.time)
        if item.get("id"):
            book.link_user_item(turn, item["id"])
        return turn

    def _tool_output(self, item: dict[str, Any]) -> Turn | None:
        for turn in reversed(self._book.turns):
            for call in turn.tool_calls:
                if call.call_id == item.get("call_id"):
                    call.output = item.get("output")
                    return turn
        return None

    def client_commit(self, event: RealtimeEvent) -> Turn | None:
        stop = len(self._input)
        turn = self._book.open_user_turn()
        if turn is None or turn._user_range is None:
            turn = self._book.new_turn()
        if turn._user_range is None or turn._user_range[1] is None:
            start = turn._user_range[0] if turn._user_range else self.mark
            turn._user_range = (start, stop)
        turn.origin_s = event.time
        self.mark = stop
        return turn

    def input_tap(self, event: RealtimeEvent) -> Turn | None:
        """The page's tap of a WebRTC call's microphone: the service heard this audio on the track,
        its clock (`audio_start_ms` ...) counting from the first tapped sample."""
        ref = parse_audio_ref(event.raw.get("audio"))
        if ref is not None and not self.tapped:
            self.tapped = True
            self.epoch = self.mark = ref[1]
        return None

    def client_clear(self, event: RealtimeEvent) -> Turn | None:
        self.mark = len(self._input)
        return None

    # ------------------------------------------------------------------ server events
    def speech_started(self, event: RealtimeEvent) -> Turn | None:
        at = ms(event.raw.get("audio_start_ms"), self._input_ms())
        turn = self._book.new_turn(speech_start_ms=at, _user_range=(self._sample_at_ms(at), None))
        item_id = event.raw.get("item_id")
        if item_id:
            self._book.link_user_item(turn, item_id)
        return turn

    def speech_stopped(self, event: RealtimeEvent) -> Turn | None:
        item_id = event.raw.get("item_id")
        turn = self._book.by_user_item.get(item_id) if item_id else self._book.open_user_turn()
        if turn is None:
            return None
        at = ms(event.raw.get("audio_end_ms"), self._input_ms())
        turn.speech_end_ms = at
        start = turn._user_range[0] if turn._user_range else self.mark
        turn._user_range = (start, self._sample_at_ms(at))
        turn.origin_s = event.time
        return turn

    def cleared(self, event: RealtimeEvent) -> Turn | None:
        """The server dropped its input buffer: speech it was hearing ends here, never answered."""
        self.mark = len(self._input)
        turn = self._book.last_turn
        if turn is None or not turn.user_speaking or turn.response_id is not None:
            return None
        assert turn._user_range is not None
        turn._user_range = (turn._user_range[0], len(self._input))
        turn.status = "cancelled"
        return turn

    def committed(self, event: RealtimeEvent) -> Turn | None:
        book = self._book
        item_id = event.raw.get("item_id")
        turn = book.by_user_item.get(item_id) if item_id else None
        if turn is None:
            turn = book.open_user_turn()
            if turn is None:
                turn = book.new_turn(_user_range=(self.mark, len(self._input)), origin_s=event.time)
        if turn._user_range is not None and turn._user_range[1] is None:
            turn._user_range = (turn._user_range[0], len(self._input))
        if item_id:
            book.link_user_item(turn, item_id)
        if turn.speech_end_ms is not None:
            self.mark = max(self.mark, self._sample_at_ms(turn.speech_end_ms))
        return turn

    def user_item_added(self, event: RealtimeEvent, item: dict[str, Any]) -> Turn:
        book = self._book
        item_id = item["id"]
        turn = book.by_user_item.get(item_id)
        if turn is None:
            last = book.last_turn
            if last is not None and last.user_item_id is None and last.user_text is not None:
                turn = last
            else:
                texts = input_texts(item)
                turn = book.new_turn(user_text="".join(texts) if texts else None, origin_s=event.time)
            book.link_user_item(turn, item_id)
        if any(c.get("type") == "input_audio" for c in parts(item)):
            # Deltas may come first; only `.completed` (or `.failed`) ends the wait.
            waiting = turn.user_transcript is None or turn.user_transcript_pending
            turn.user_transcript_pending = waiting and self.transcribing
        return turn

    def transcript_delta(self, event: RealtimeEvent) -> Turn | None:
        turn = self._book.by_user_item.get(event.raw.get("item_id", ""))
        if turn is None:
            return None
        turn.user_transcript = (turn.user_transcript or "") + text(event.raw.get("delta"))
        turn.user_transcript_pending = True
        return turn

    def transcript_done(self, event: RealtimeEvent) -> Turn | None:
        turn = self._book.by_user_item.get(event.raw.get("item_id", ""))
        if turn is None:
            return None
        transcript = event.raw.get("transcript")
        turn.user_transcript = transcript if isinstance(transcript, str) else turn.user_transcript or ""
        turn.user_transcript_pending = False
        if self.transcription_only:  # no response will come: the transcript is the whole turn
            turn.status = "completed"
            usage = event.raw.get("usage")
            turn.usage = usage if isinstance(usage, dict) else turn.usage
        return turn

    def transcript_failed(self, event: RealtimeEvent) -> Turn | None:
        turn = self._book.by_user_item.get(event.raw.get("item_id", ""))
        error = error_dict(event.raw.get("error"), "input transcription failed")
        self._book.errors.append(error)
        if turn is None:
            return None
        turn.user_transcript_pending = False
        turn.error = error
        if self.transcription_only:
            turn.status = "failed"
        return turn
