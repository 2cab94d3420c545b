"""Cassette sizes for a 1-minute and a 10-minute realtime session, and Opus against FLAC (issue 12).

    python bench/bench_cassette_size.py [--minutes 1 10]

Each session alternates a spoken question (eSpeak, ~4 s) and a spoken answer (~11 s) until its audio,
both directions, lasts the given minutes; it is recorded with `record=` against the emulator (output
as fast as it can go). Figures: the cassette's files and total size; the same audio as FLAC (lossless)
for comparison; what the Opus round trip keeps: every sample count (durations) and, for the first
questions, the words pocketsphinx hears in the original and in the decoded Opus. Nothing asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ["no_proxy"] = os.environ["NO_PROXY"] = "*"

from realtime_widgets import ConnectionConfig, Emulator, RealtimeSession, SessionConfig  # noqa: E402
from realtime_widgets import cassette_format as fmt  # noqa: E402
from realtime_widgets.emulator import recognizer  # noqa: E402
from realtime_widgets.emulator.voice import synthesize  # noqa: E402

QUESTIONS = [
    "What time is it in Tokyo",
    "How far away is the moon",
    "Tell me a fact about octopuses",
    "Please call me back tomorrow morning",
]
ANSWER = (
    "Here is a longer answer, so that the session holds as much of the assistant's voice as a real "
    "conversation would, with a few sentences about the weather, the time and the moon."
)


async def record(
    folder: Path, minutes: float, emu: Emulator
) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
    clips = [synthesize(q, voice="ash") for q in QUESTIONS]
    config = SessionConfig(turn_detection="manual")
    seconds = 0.0
    async with RealtimeSession(
        ConnectionConfig.for_emulator(emu), config, record=folder, record_mode="all"
    ) as s:
        n = 0
        while seconds < minutes * 60:
            turn = await s.send_audio(clips[n % len(clips)], 24000)
            seconds += len(turn.user_audio) / 24000 + turn.duration_s
            n += 1
    users = [t.user_audio for t in s.conversation.turns]
    answers = [t.audio for t in s.conversation.turns]
    return seconds, users, answers


def words(samples: np.ndarray) -> str:
    return asyncio.run(recognizer.transcribe_async(samples)) or ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 10])
    args = parser.parse_args()
    with Emulator(reply=lambda text, seconds: ANSWER, output_pace=0, recognize=False) as emu:
        for minutes in args.minutes:
            folder = Path(tempfile.mkdtemp()) / f"session-{minutes:g}min"
            started = time.perf_counter()
            seconds, users, answers = asyncio.run(record(folder, minutes, emu))
            took = time.perf_counter() - started
            total = sum(p.stat().st_size for p in folder.iterdir())
            print(
                f"== {minutes:g}-minute session: {seconds / 60:.1f} min of audio ({len(users)} turns), recorded in {took:.0f} s"
            )
            for path in sorted(folder.iterdir()):
                print(f"   {path.name:28} {path.stat().st_size / 1e6:7.3f} MB")
            print(f"   cassette total              {total / 1e6:7.3f} MB")
            pcm_in, pcm_out = np.concatenate(users), np.concatenate(answers)
            flac = len(fmt.encode(pcm_in, "flac")) + len(fmt.encode(pcm_out, "flac"))
            events = sum(p.stat().st_size for p in folder.glob("*.jsonl"))
            print(f"   same audio as FLAC           {flac / 1e6:7.3f} MB (+ {events / 1e6:.3f} MB events)")
            tracks = fmt.AudioTracks(folder)
            decoded_in = tracks.samples(
                {"file": "realtime-001.client.opus", "offset_s": 0, "bytes": 2 * len(pcm_in)}
            )
            print(
                f"   samples in/out of Opus       {len(pcm_in)} -> {len(fmt.decode((folder / 'realtime-001.client.opus').read_bytes()))}"
            )
            if minutes == args.minutes[0]:
                offset = 0
                for clip in users[: len(QUESTIONS)]:
                    original, opus = clip, decoded_in[offset : offset + len(clip)]
                    offset += len(clip)
                    print(f"   heard: original {words(original)!r:44} opus {words(opus)!r}")
    recognizer.shutdown()


if __name__ == "__main__":
    main()
