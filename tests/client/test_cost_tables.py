"""Usage and cost per turn, and the pandas tables (turns, events, cost), from real emulator sessions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from realtime_widgets import TokenPrices, UnknownModelPrices
from realtime_widgets.config import ConnectionConfig
from realtime_widgets.conversation import Conversation, replay
from realtime_widgets.events import RealtimeEvent
from realtime_widgets.pricing import DEFAULT_PRICES, prices_for, token_counts
from realtime_widgets.protocol import SAMPLE_RATE
from realtime_widgets.session import RealtimeSession
from realtime_widgets.session_config import SessionConfig
from realtime_widgets.widgets import EventLog, TranscriptView

# gpt-realtime's published prices, US dollars per million tokens (OpenAI's model page, 2026-11-23):
# text in / cached in / out, audio in / cached in / out. Written out here, not read from the code.
GPT_REALTIME = (4.00, 0.40, 16.00, 32.00, 0.40, 64.00)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    from realtime_widgets.emulator import synthesize

    pad = np.zeros(SAMPLE_RATE // 5, np.int16)
    return np.concatenate([pad, synthesize("What time is it", "alloy"), pad])


@pytest.fixture
async def session_turns(emulator, speech):
    """Two typed turns and one spoken turn, as the emulator answered them (usage in response.done)."""
    connection = ConnectionConfig.for_emulator(emulator).replace(deployment="gpt-realtime")
    async with RealtimeSession(connection, SessionConfig(turn_detection="manual")) as s:
        await s.send_text("Hello there, how are you")
        await s.send_text("Tell me about the weather in a short sentence")
        await s.send_audio(speech)
    return s


def wire_usages(session) -> list[dict]:
    """The `usage` of every response.done, read from the event log (not from the turns)."""
    return [e.raw["response"]["usage"] for e in session.event_log if e.type == "response.done"]


def hand_cost(usage: dict, prices: tuple[float, ...]) -> float:
    """The cost of one realtime usage, computed from its fields as the pricing page explains it:
    cached tokens are part of text_tokens / audio_tokens and are billed at the cached price."""
    inp, out = usage["input_token_details"], usage["output_token_details"]
    cached = inp.get("cached_tokens_details") or {}
    cached_text, cached_audio = cached.get("text_tokens", 0), cached.get("audio_tokens", 0)
    text_in, text_cached_in, text_out, audio_in, audio_cached_in, audio_out = prices
    return (
        (inp["text_tokens"] - cached_text) * text_in
        + cached_text * text_cached_in
        + out["text_tokens"] * text_out
        + (inp["audio_tokens"] - cached_audio) * audio_in
        + cached_audio * audio_cached_in
        + out["audio_tokens"] * audio_out
    ) / 1_000_000


async def test_usage_per_turn_and_cost_from_a_real_session(session_turns) -> None:
    s = session_turns
    conv = s.conversation
    usages = wire_usages(s)
    assert len(usages) == 3 and [t.usage for t in conv.turns] == usages
    assert usages[2]["input_token_details"]["audio_tokens"] > 0, "the spoken turn bills audio input"
    assert conv.model == "gpt-realtime"

    table = conv.cost()
    assert list(table.index) == ["0", "1", "2", "total"]
    per_turn = table.drop(index="total")
    for i, usage in enumerate(usages):
        row = per_turn.loc[str(i)]
        assert row["total_tokens"] == usage["total_tokens"]
        assert row["text_out_tokens"] + row["audio_out_tokens"] == usage["output_tokens"]
        assert (
            row["audio_in_tokens"] + row["audio_cached_in_tokens"]
            == usage["input_token_details"]["audio_tokens"]
        )
        assert row["cost_usd"] == pytest.approx(hand_cost(usage, GPT_REALTIME), rel=1e-12)
        assert row["cost_usd"] == pytest.approx(row["text_usd"] + row["audio_usd"])
    # The total row is the sum of the turns (the running total of the transcript's footer).
    assert table.loc["total", "total_tokens"] == sum(u["total_tokens"] for u in usages)
    assert table.loc["total", "cost_usd"] == pytest.approx(sum(hand_cost(u, GPT_REALTIME) for u in usages))
    assert table.attrs["model"] == "gpt-realtime"
    # typed columns: ints for tokens, floats for dollars
    assert {str(table[c].dtype) for c in table.columns if c.endswith("_tokens")} == {"int64"}
    assert {str(table[c].dtype) for c in ("text_usd", "audio_usd", "cost_usd")} == {"float64"}
    assert len(conv.cost(total=False)) == 3


async def test_prices_can_be_overridden_and_an_unknown_model_says_to_pass_them(session_turns) -> None:
    conv = session_turns.conversation
    usages = wire_usages(session_turns)
    mine = (1.0, 0.5, 2.0, 10.0, 1.0, 20.0)
    expected = sum(hand_cost(u, mine) for u in usages)
    assert conv.cost(TokenPrices(*mine)).loc["total", "cost_usd"] == pytest.approx(expected)
    as_dict = dict(
        zip(
            ("text_in", "text_cached_in", "text_out", "audio_in", "audio_cached_in", "audio_out"),
            mine,
            strict=True,
        )
    )
    by_model = conv.cost({"my-voice-bot": as_dict}, model="my-voice-bot")
    assert by_model.loc["total", "cost_usd"] == pytest.approx(expected)
    assert conv.cost(as_dict).loc["total", "cost_usd"] == pytest.approx(expected)
    with pytest.raises(UnknownModelPrices, match=r"'my-voice-bot'.*pass prices=TokenPrices"):
        conv.cost(model="my-voice-bot")
    with pytest.raises(ValueError, match="missing audio_out"):
        conv.cost({"text_in": 1, "text_cached_in": 1, "text_out": 1, "audio_in": 1, "audio_cached_in": 1})


def test_snapshot_names_find_their_model_and_cached_tokens_cost_the_cached_price() -> None:
    assert prices_for("gpt-4o-realtime-preview-2024-12-17") == DEFAULT_PRICES["gpt-4o-realtime-preview"]
    assert prices_for("gpt-4o-mini-realtime-preview") == DEFAULT_PRICES["gpt-4o-mini-realtime-preview"]
    assert prices_for("gpt-realtime-mini-2025-10-06") == DEFAULT_PRICES["gpt-realtime-mini"]
    with pytest.raises(UnknownModelPrices):
        prices_for(None)
    usage = {
        "total_tokens": 1830,
        "input_tokens": 1500,
        "output_tokens": 330,
        "input_token_details": {
            "text_tokens": 1200,
            "audio_tokens": 300,
            "cached_tokens": 1100,
            "cached_tokens_details": {"text_tokens": 1000, "audio_tokens": 100},
        },
        "output_token_details": {"text_tokens": 30, "audio_tokens": 300},
    }
    counts = token_counts(usage)
    assert (counts.text_in, counts.text_cached_in, counts.audio_in, counts.audio_cached_in) == (
        200,
        1000,
        200,
        100,
    )
    assert counts.total == 1830
    # gpt-realtime: 200*4 + 1000*0.4 + 30*16 + 200*32 + 100*0.4 + 300*64 = 27320 micro-dollars
    from realtime_widgets.pricing import cost_usd

    assert cost_usd(counts, prices_for("gpt-realtime"))["cost_usd"] == pytest.approx(0.02732)
    # A chat completion's usage (audio models) reads the same way.
    chat = {
        "prompt_tokens": 120,
        "completion_tokens": 80,
        "prompt_tokens_details": {"audio_tokens": 100, "text_tokens": 20, "cached_tokens": 0},
        "completion_tokens_details": {"audio_tokens": 60, "text_tokens": 20},
    }
    assert token_counts(chat).audio_out == 60 and token_counts(chat).total == 200


async def test_turns_and_events_as_pandas(session_turns, tmp_path) -> None:
    s = session_turns
    turns = s.conversation.turns.to_pandas()
    assert isinstance(s.conversation.turns, list) and len(turns) == 3
    assert turns.index.name == "turn" and list(turns.index) == [0, 1, 2]
    dtypes = turns.dtypes.astype(str).to_dict()
    assert dtypes["status"] == "string" and dtypes["user"] == "string"
    assert dtypes["audio_s"] == dtypes["latency_first_audio_s"] == dtypes["latency_done_s"] == "float64"
    assert dtypes["input_tokens"] == dtypes["total_tokens"] == "Int64"
    assert list(turns["status"]) == ["completed"] * 3
    assert turns.loc[0, "user"] == "Hello there, how are you"
    assert turns.loc[2, "user_audio_s"] > 0.5 and (turns["audio_s"] > 0.3).all()
    assert (turns["latency_first_audio_s"] < turns["latency_done_s"]).all()
    assert list(turns["total_tokens"]) == [u["total_tokens"] for u in wire_usages(s)]

    events = s.event_log.to_pandas()
    assert len(events) == len(s.event_log)
    assert str(events["time_s"].dtype) == "float64" and str(events["direction"].dtype) == "category"
    assert (events["type"] == "response.done").sum() == 3
    assert events["time_s"].is_monotonic_increasing
    # A saved session gives the same tables when loaded again (the model comes back from its events).
    loaded = Conversation.load(s.conversation.save(tmp_path / "saved"))
    assert loaded.model == "gpt-realtime"
    pd.testing.assert_frame_equal(loaded.cost(), s.conversation.cost())
    pd.testing.assert_frame_equal(loaded.turns.to_pandas(), turns)
    log = EventLog()
    log.ingest_many(s.event_log)
    assert log.to_pandas().equals(events)


async def test_transcript_rows_and_footer_follow_the_prices(session_turns) -> None:
    conv = session_turns.conversation
    usages = wire_usages(session_turns)
    view = TranscriptView(conv)
    assert [r["usage"].rsplit("$", 1)[1] for r in view.rows()] == [
        f"{hand_cost(u, GPT_REALTIME):.4f}" for u in usages
    ]
    total_tokens = sum(u["total_tokens"] for u in usages)
    assert view.total().startswith(f"Total, 3 turns: {total_tokens:,} tokens")
    mine = TokenPrices(100.0, 100.0, 100.0, 100.0, 100.0, 100.0)  # $100 a million: 1e-4 a token
    assert f"${total_tokens * 1e-4:.4f}" in TranscriptView(conv, prices=mine).total()
    # A model without known prices: tokens only, and the footer says how to give prices.
    bare = replay(
        [
            RealtimeEvent.from_raw(
                {"type": "session.created", "session": {"model": "my-voice-bot"}}, "server", 0.0
            )
        ]
    )
    for event in conv.events:
        if event.type == "response.done" or event.type in ("response.created", "conversation.item.added"):
            bare.apply(event)
    unpriced = TranscriptView(bare)
    assert unpriced.rows() and all("$" not in r["usage"] and r["usage"] for r in unpriced.rows())
    assert "no prices for my-voice-bot: TranscriptView(prices=...)" in unpriced.total()
