"""Batch evaluation of a folder of clips through audio chat completions (against the emulator)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from realtime_widgets import ConnectionConfig, evaluate_clips
from realtime_widgets.audio import wav_bytes
from realtime_widgets.emulator import synthesize

SENTENCES = ["the cat sat on the mat", "open the window please", "good morning to you"]


@pytest.fixture
def clips(tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    for i, text in enumerate(SENTENCES):
        (folder / f"clip{i}.wav").write_bytes(wav_bytes(synthesize(text, voice="echo")))
    (folder / "notes.txt").write_text("not audio")
    return folder


async def test_batch_retries_429_and_saves(emulator, clips, tmp_path):
    emulator.faults.reset()
    emulator.faults.handshake_429 = 2  # the next two requests are throttled
    emulator.faults.retry_after_s = 3
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    progress: list[tuple[int, int]] = []
    try:
        results = await evaluate_clips(
            clips,
            connection=ConnectionConfig.for_emulator(emulator),
            concurrency=2,
            progress=lambda done, total: progress.append((done, total)),
            sleep=fake_sleep,
        )
    finally:
        emulator.faults.reset()
    assert [r.clip for r in results] == ["clip0.wav", "clip1.wav", "clip2.wav"]
    assert all(r.ok for r in results), [r.error for r in results]
    assert sum(r.attempts for r in results) == len(SENTENCES) + 2
    assert waits == [3, 3], "retries wait the Retry-After the service sent"
    assert progress[-1] == (3, 3) and len(progress) == 3
    for r in results:
        assert r.input_s > 0.8 and r.reply_s > 0.5 and r.latency_s > 0
        assert r.transcript
    out = results.save(tmp_path / "results")
    rows = json.loads((out / "results.json").read_text())
    assert [row["clip"] for row in rows] == ["clip0.wav", "clip1.wav", "clip2.wav"]
    assert (out / "results.csv").read_text().startswith("clip,status,input_s,reply_s,latency_s,attempts")
    assert (out / "clip0.reply.wav").stat().st_size > 10_000
    frame = results.to_pandas()
    assert len(frame) == 3 and list(frame["clip"]) == ["clip0.wav", "clip1.wav", "clip2.wav"]
    dtypes = frame.dtypes.astype(str).to_dict()
    assert dtypes["input_s"] == dtypes["reply_s"] == dtypes["latency_s"] == "float64"
    assert (
        dtypes["attempts"] == "int64" and dtypes["output_tokens"] == "Int64" and dtypes["status"] == "string"
    )
    assert list(frame["status"]) == ["ok"] * 3 and (frame["output_tokens"] > 0).all()
    assert list(frame["attempts"]) == [r.attempts for r in results]
    # The CSV reads back as the same table.
    again = pd.read_csv(out / "results.csv", dtype=results.DTYPES, keep_default_na=False, na_values=[""])
    assert again["latency_s"].tolist() == pytest.approx(frame["latency_s"].tolist())
    assert again["transcript"].tolist() == frame["transcript"].tolist()
    # Cost per clip: gpt-4o-audio-preview's published prices (text in 2.50, out 10; audio in 40, out 80
    # US dollars a million), applied by hand to each reply's usage (text = total - audio).
    cost = results.cost()
    assert list(cost.index) == ["clip0.wav", "clip1.wav", "clip2.wav", "total"]
    for r in results:
        u = r.reply.usage
        audio_in, audio_out = (
            u["prompt_tokens_details"]["audio_tokens"],
            u["completion_tokens_details"]["audio_tokens"],
        )
        text_in, text_out = u["prompt_tokens"] - audio_in, u["completion_tokens"] - audio_out
        expected = (text_in * 2.5 + text_out * 10 + audio_in * 40 + audio_out * 80) / 1e6
        assert audio_in > 0 and audio_out > 0 and text_in > 0
        assert cost.loc[r.clip, "cost_usd"] == pytest.approx(expected, rel=1e-12)
        assert cost.loc[r.clip, "status"] == "ok"
    assert cost.loc["total", "cost_usd"] == pytest.approx(cost["cost_usd"].iloc[:-1].sum())
    html = results._repr_html_()
    assert "<table" in html and "clip1.wav" in html and "output_tokens" in html


async def test_batch_gives_up_after_max_retries_and_goes_on(emulator, clips):
    emulator.faults.reset()
    emulator.faults.handshake_429 = 3

    async def no_wait(_seconds: float) -> None:
        return None

    try:
        results = await evaluate_clips(
            clips,
            connection=ConnectionConfig.for_emulator(emulator),
            concurrency=1,
            max_retries=1,
            progress=False,
            sleep=no_wait,
        )
    finally:
        emulator.faults.reset()
    assert not results[0].ok and "429" in results[0].error and results[0].attempts == 2
    assert results[1].attempts == 2 and results[1].ok  # third 429, then success
    assert results[2].ok and results[2].attempts == 1


async def test_batch_rejects_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a folder"):
        await evaluate_clips(tmp_path / "nope", connection=ConnectionConfig.from_env())
    with pytest.raises(ValueError, match="no audio clips"):
        await evaluate_clips(tmp_path, connection=ConnectionConfig.from_env())
    with pytest.raises(ValueError, match="concurrency"):
        await evaluate_clips(tmp_path, concurrency=0)
