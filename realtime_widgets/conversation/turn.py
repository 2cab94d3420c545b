"""`Turn` (one exchange: the user's input, then the assistant's response) and `ToolCall`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..protocol import SAMPLE_RATE
from .alignment import WordTime, align_words
from .stream import PcmStream


@dataclass
class ToolCall:
    """A function call the assistant made: answer it with `session.send_tool_output(call, output)`."""

    name: str
    call_id: str
    arguments: str  # JSON text, as the model wrote it
    item_id: str | None = None
    output: str | None = None  # what the client answered, once it has

    @property
    def args(self) -> dict[str, Any]:
        """The arguments parsed from JSON."""
        try:
            value = json.loads(self.arguments or "{}")
        except ValueError as exc:
            raise ValueError(f"the arguments of {self.name} are not valid JSON: {self.arguments!r}") from exc
        if not isinstance(value, dict):
            raise ValueError(f"the arguments of {self.name} are not a JSON object: {self.arguments!r}")
        return value


@dataclass(eq=False)
class Turn:
    """One exchange: the user's input, then the assistant's response.

    Times (`*_s` and the first element of delta tuples) are seconds since the session connected.
    `audio_deltas` are `(arrival_s, start_sample, n_samples)` within this turn's `audio`;
    `transcript_deltas` are `(arrival_s, text, audio_position_s)` where the position is how much
    assistant audio had arrived when the piece arrived, i.e. where playback would be.
    """

    index: int
    # user side
    user_item_id: str | None = None
    user_text: str | None = None
    user_transcript: str | None = None
    user_transcript_pending: bool = False
    speech_start_ms: float | None = None
    speech_end_ms: float | None = None
    # assistant side
    response_id: str | None = None
    item_id: str | None = None
    text: str = ""
    transcript: str = ""
    audio_deltas: list[tuple[float, int, int]] = field(default_factory=list)
    transcript_deltas: list[tuple[float, str, float]] = field(default_factory=list)
    status: str = "pending"
    truncated_ms: int | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    latency_first_audio_s: float | None = None
    latency_done_s: float | None = None
    error: dict[str, Any] | None = None
    # when the user finished (speech end, commit or send): the origin of the latencies
    origin_s: float | None = None
    # Gaps a player heard in this turn's audio (its queue ran dry mid-response); reported by the
    # page, not an event of the session, so neither saved nor compared.
    underruns: int = 0
    # The conversation's streams this turn's audio lives in (sample ranges below index them).
    _input: PcmStream | None = field(default=None, repr=False)
    _output: PcmStream | None = field(default=None, repr=False)
    _user_range: tuple[int, int | None] | None = field(default=None, repr=False)
    _out_segments: list[tuple[int, int]] = field(default_factory=list, repr=False)
    _out_samples: int = field(default=0, repr=False)
    # The audio is a WebRTC call's tapped track: only what played (a cut reply's rest never came).
    _tapped: bool = field(default=False, repr=False)
    _aligned: dict[str, tuple[tuple[Any, ...], list[WordTime]]] = field(default_factory=dict, repr=False)

    @property
    def audio(self) -> np.ndarray:
        """Assistant audio received so far, int16 at 24 kHz."""
        output = self._output
        if output is None or not self._out_segments:
            return np.zeros(0, np.int16)
        segments = self._out_segments
        if len(segments) > 1 and all(segments[i][1] == segments[i + 1][0] for i in range(len(segments) - 1)):
            return output.read(segments[0][0], segments[-1][1])
        return np.concatenate([output.read(a, b) for a, b in segments])

    @property
    def user_audio(self) -> np.ndarray:
        """The user's audio for this turn (int16 at 24 kHz); empty for text input."""
        if self._input is None or self._user_range is None:
            return np.zeros(0, np.int16)
        start, stop = self._user_range
        return self._input.read(start, len(self._input) if stop is None else stop)

    @property
    def user_range(self) -> tuple[int, int | None] | None:
        """The user's audio as a sample range of `conversation.input` (stop None while speech goes on)."""
        return self._user_range

    @property
    def user_speaking(self) -> bool:
        """True between the server hearing speech start and speech stop (or the commit)."""
        return self._user_range is not None and self._user_range[1] is None

    @property
    def audio_samples(self) -> int:
        return self._out_samples

    @property
    def duration_s(self) -> float:
        """Duration of the assistant audio received."""
        return self._out_samples / SAMPLE_RATE

    @property
    def word_times(self) -> list[WordTime]:
        """The assistant's words, each with where it is spoken in `audio` (aligned to the audio's
        energy between the deltas' arrival positions: see `conversation/alignment.py`)."""
        key = (self._out_samples, len(self.transcript_deltas), self.transcript, self.truncated_ms)
        if self._tapped:  # the text ran ahead of a played track: the deltas' positions say nothing
            partial = self.truncated_ms is not None
            return self._aligned_words("assistant", key, self.audio, (), self.transcript, partial)
        return self._aligned_words("assistant", key, self.audio, self.transcript_deltas, self.transcript)

    @property
    def user_word_times(self) -> list[WordTime]:
        """The user's transcript words, each with where it is spoken in `user_audio`."""
        transcript = self.user_transcript or ""
        key = (self._user_range, len(self._input) if self._input is not None else 0, transcript)
        return self._aligned_words("user", key, self.user_audio, (), transcript)

    def _aligned_words(
        self,
        side: str,
        key: tuple[Any, ...],
        audio: np.ndarray,
        deltas: Any,
        transcript: str,
        partial: bool = False,
    ) -> list[WordTime]:
        cached = self._aligned.get(side)
        if cached is None or cached[0] != key:
            cached = (key, align_words(audio, SAMPLE_RATE, deltas, transcript, partial=partial))
            self._aligned[side] = cached
        return cached[1]

    @property
    def heard_transcript(self) -> str:
        """The words whose audio began playing before a truncation (all of the transcript otherwise)."""
        if self.truncated_ms is None:
            return self.transcript
        return " ".join(w.word for w in self._words_played(True))

    @property
    def unheard_transcript(self) -> str:
        """The words generated but never played because of a truncation ("" without one)."""
        if self.truncated_ms is None:
            return ""
        return " ".join(w.word for w in self._words_played(False))

    def _words_played(self, played: bool) -> list[WordTime]:
        limit = (self.truncated_ms or 0) / 1000.0
        return [w for w in self.word_times if (w.start_s < limit) == played]

    @property
    def done(self) -> bool:
        return self.status in ("completed", "cancelled", "truncated", "failed")

    def add_output(self, start: int, stop: int, arrival_s: float) -> None:
        """Assistant audio samples [start, stop) of the output stream arrived for this turn."""
        n = stop - start
        segments = self._out_segments
        if segments and segments[-1][1] == start:
            segments[-1] = (segments[-1][0], stop)  # contiguous: one segment, cheap reads
        else:
            segments.append((start, stop))
        self.audio_deltas.append((arrival_s, self._out_samples, n))
        self._out_samples += n

    def to_dict(self) -> dict[str, Any]:
        """Public fields as plain data (audio as sample counts)."""
        return {
            "index": self.index,
            "user_item_id": self.user_item_id,
            "user_text": self.user_text,
            "user_transcript": self.user_transcript,
            "user_transcript_pending": self.user_transcript_pending,
            "user_audio_samples": len(self.user_audio),
            "speech_start_ms": self.speech_start_ms,
            "speech_end_ms": self.speech_end_ms,
            "response_id": self.response_id,
            "item_id": self.item_id,
            "text": self.text,
            "transcript": self.transcript,
            "audio_samples": self._out_samples,
            "audio_deltas": list(self.audio_deltas),
            "transcript_deltas": list(self.transcript_deltas),
            "status": self.status,
            "truncated_ms": self.truncated_ms,
            "tool_calls": [vars(c).copy() for c in self.tool_calls],
            "usage": self.usage,
            "latency_first_audio_s": self.latency_first_audio_s,
            "latency_done_s": self.latency_done_s,
            "error": self.error,
            "origin_s": self.origin_s,
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Turn):
            return NotImplemented
        return (
            self.to_dict() == other.to_dict()
            and np.array_equal(self.audio, other.audio)
            and np.array_equal(self.user_audio, other.user_audio)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        said = self.user_text if self.user_text is not None else self.user_transcript
        return (
            f"Turn({self.index}, {self.status}, user={said!r:.40}, assistant={self.transcript or self.text!r:.40}, "
            f"audio={self.duration_s:.2f}s)"
        )
