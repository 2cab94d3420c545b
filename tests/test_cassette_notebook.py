"""Notebook 07 under nbmake, as CI runs it: no endpoint, `REALTIME_WIDGETS_CASSETTE` naming its
committed cassette in mode `none`. Its analysis cells must print what the cassette holds (the
stand-in deployment's "Azure speaking" answers and their audio durations), not the emulator's own."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import nbformat

from tests.nbmake_run import run_nbmake

NOTEBOOKS = Path(__file__).parents[1] / "notebooks"
NOTEBOOK = NOTEBOOKS / "07_record_and_replay.ipynb"
CASSETTE = NOTEBOOKS / "cassettes" / "07_research"


def recorded_answers() -> tuple[list[tuple[str, float]], tuple[str, float]]:
    """(transcript, audio seconds) of each realtime answer and of the chat reply, from the cassette."""
    answers: list[tuple[str, float]] = []
    seconds = 0.0
    for line in (CASSETTE / "realtime-001.jsonl").read_text().splitlines():
        event = json.loads(line)["event"]
        if event["type"] == "response.output_audio.delta":
            seconds += event["delta"]["$audio"]["duration_s"]
        elif event["type"] == "response.done":
            transcript = event["response"]["output"][0]["content"][0]["transcript"]
            answers.append((transcript, seconds))
            seconds = 0.0
    chat = json.loads((CASSETTE / "chat.jsonl").read_text().splitlines()[0])["reply"]
    audio = chat["choices"][0]["message"]["audio"]
    return answers, (audio["transcript"], audio["data"]["$audio"]["duration_s"])


def test_the_notebook_replays_its_committed_cassette_with_no_endpoint(tmp_path):
    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    shutil.copytree(NOTEBOOKS / "cassettes", tmp_path / "cassettes")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_OPENAI", "OPENAI_"))}
    env.update(REALTIME_WIDGETS_CASSETTE="cassettes/07_research", REALTIME_WIDGETS_RECORD_MODE="none")
    run = run_nbmake([NOTEBOOK.name], tmp_path, env, 300)
    assert run.returncode == 0, run.stdout.decode()[-3000:]
    executed = nbformat.read(tmp_path / NOTEBOOK.name, as_version=4)
    analysis = next(c for c in executed.cells if c.cell_type == "code" and "AudioChat()" in c.source)
    printed = "".join(o.get("text", "") for o in analysis.outputs)
    answers, (chat_transcript, chat_seconds) = recorded_answers()
    assert len(answers) == 2 and all(t.startswith("Azure speaking") for t, _ in answers), answers
    found = re.findall(r"assistant: '(.*)' \((\d+\.\d+) s of audio\)", printed)
    assert [t for t, _ in found] == [t for t, _ in answers], printed
    for (_, shown), (_, want) in zip(found, answers, strict=True):
        assert abs(float(shown) - want) <= 0.01
    assert f"audio chat: {chat_transcript!r} ({chat_seconds:.2f} s of audio)" in printed
    # Nothing was recorded over the committed cassette.
    assert sorted(p.name for p in (tmp_path / "cassettes" / "07_research").iterdir()) == sorted(
        p.name for p in CASSETTE.iterdir()
    )
