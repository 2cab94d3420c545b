"""`append_audio` of a long clip: memory and speed of the streamed appends (issue 10).

The clip goes through a RealtimeSession to a socket stand-in that takes each append as fast as it
comes (tests/client/scripted.py), so the figures are the client's own: traced peak (tracemalloc),
RSS growth, and seconds of audio sent per second. Before streaming, 2 hours built all 72,000
appends up front: +1.5 GB RSS for 346 MB of audio. Goal: the peak stays a small fraction of the clip.
Run: python bench/bench_long_clip.py [minutes]   (default 120)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import asyncio
import resource
import time
import tracemalloc

import numpy as np

from realtime_widgets.protocol import SAMPLE_RATE
from realtime_widgets.session import RealtimeSession
from realtime_widgets.session_config import SessionConfig
from tests.client.scripted import ScriptedService, scripted_connection


class Sink(ScriptedService):
    """Keeps the size of each append, not the append."""

    def __init__(self) -> None:
        super().__init__()
        self.appended = 0

    async def send_raw(self, data: str) -> None:
        if data.startswith('{"type":"input_audio_buffer.append"'):
            self.appended += 1
            await asyncio.sleep(0)
            return
        await super().send_raw(data)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(minutes: float) -> None:
    clip = np.random.default_rng(1).integers(-3000, 3000, int(minutes * 60 * SAMPLE_RATE), dtype=np.int16)
    sink = Sink()
    async with RealtimeSession(scripted_connection(sink), SessionConfig(turn_detection="manual")) as s:
        rss_before = rss_mb()
        tracemalloc.start()
        started = time.perf_counter()
        await s.append_audio(clip)
        took = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"{minutes:g} min of audio ({clip.nbytes / 1e6:.0f} MB PCM16), {sink.appended} appends")
        print(f"  sent in {took:.1f} s ({minutes * 60 / took:.0f}x realtime)")
        print(f"  traced peak {peak / 1e6:.1f} MB; max RSS +{rss_mb() - rss_before:.0f} MB")
        print(
            f"  recorded: {s.conversation.events.spilled} of {len(s.event_log)} events spilled to the log's file"
        )


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1]) if len(sys.argv) > 1 else 120.0))
