"""The conversation as pandas tables: turns, tokens and cost per turn, and the event log.

pandas is imported when a table is asked for, so importing the package stays fast.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..events import RealtimeEvent
from ..pricing import TokenCounts, TokenPrices, cost_table, token_counts
from ..protocol import SAMPLE_RATE
from .turn import Turn

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

Prices = TokenPrices | Mapping[str, Any] | None


class TurnList(list[Turn]):
    """The conversation's turns: a list, plus `to_pandas()`."""

    def to_pandas(self) -> pd.DataFrame:
        """One row per turn (index "turn"): what was said, status, durations and latencies in
        seconds, tool calls, underruns and tokens (nullable ints: <NA> until `response.done`)."""
        return turns_frame(self)


def _said(turn: Turn) -> str:
    return turn.user_text if turn.user_text is not None else turn.user_transcript or ""


def turns_frame(turns: Iterable[Turn]) -> pd.DataFrame:
    import pandas as pd

    rows = []
    for turn in turns:
        counts = token_counts(turn.usage) if turn.usage is not None else None
        rows.append(
            {
                "turn": turn.index,
                "status": turn.status,
                "user": _said(turn),
                "assistant": turn.transcript or turn.text,
                "user_audio_s": len(turn.user_audio) / SAMPLE_RATE,
                "audio_s": turn.duration_s,
                "latency_first_audio_s": turn.latency_first_audio_s,
                "latency_done_s": turn.latency_done_s,
                "truncated_s": None if turn.truncated_ms is None else turn.truncated_ms / 1000,
                "tool_calls": len(turn.tool_calls),
                "underruns": turn.underruns,
                "input_tokens": None if counts is None else counts.input,
                "output_tokens": None if counts is None else counts.output,
                "total_tokens": None if counts is None else counts.total,
                "error": _error_text(turn.error),
            }
        )
    dtypes = {
        "turn": "int64",
        "status": "string",
        "user": "string",
        "assistant": "string",
        "user_audio_s": "float64",
        "audio_s": "float64",
        "latency_first_audio_s": "float64",
        "latency_done_s": "float64",
        "truncated_s": "float64",
        "tool_calls": "int64",
        "underruns": "int64",
        "input_tokens": "Int64",
        "output_tokens": "Int64",
        "total_tokens": "Int64",
        "error": "string",
    }
    frame: pd.DataFrame = pd.DataFrame(rows, columns=list(dtypes)).astype(dtypes).set_index("turn")
    return frame


def _error_text(error: dict[str, Any] | None) -> str | None:
    if not error:
        return None
    return str(error.get("message") or error.get("code") or error)


def usage_counts(turns: Iterable[Turn]) -> list[TokenCounts]:
    """Each turn's tokens (zero before its `response.done`)."""
    return [token_counts(turn.usage) for turn in turns]


def cost_frame(
    turns: Iterable[Turn], model: str | None, prices: Prices = None, total: bool = True
) -> pd.DataFrame:
    """Tokens and US dollars per turn (see `pricing.cost_table`), index "turn"."""
    turns = list(turns)
    return cost_table(
        {str(t.index): t.usage for t in turns},
        model,
        prices,
        total=total,
        status=[t.status for t in turns],
        index_name="turn",
    )


def events_frame(events: Iterable[RealtimeEvent]) -> pd.DataFrame:
    """One row per event: seconds since connect, direction, type (as this client names it; the wire's
    name apart when it differs), event, item and response ids (<NA> when the event has none)."""
    import pandas as pd

    rows = [
        {
            "time_s": e.time,
            "direction": e.direction,
            "type": e.type,
            "wire_type": e.wire_type,
            "event_id": e.raw.get("event_id"),
            "item_id": e.item_id,
            "response_id": e.response_id,
        }
        for e in events
    ]
    dtypes = {
        "time_s": "float64",
        "direction": pd.CategoricalDtype(["client", "server"]),
        "type": "string",
        "wire_type": "string",
        "event_id": "string",
        "item_id": "string",
        "response_id": "string",
    }
    frame: pd.DataFrame = pd.DataFrame(rows, columns=list(dtypes)).astype(dtypes)
    return frame
