"""Memory of a long conversation: a simulated 4-hour session (with reconnects) stays under 150 MB RSS.

    python bench/bench_long_session.py [--hours 4] [--reconnect-minutes 30]

Events go through `Conversation.apply` exactly as `RealtimeSession` records them: 100 ms microphone
appends with base64 audio all the time, server VAD turns every 10 s, and a spoken reply of 10 s per
turn in 250 ms audio deltas with transcript deltas (both directions at full rate: the worst case).
Every `--reconnect-minutes` a new `session.created` starts the server clock again, as after an
Azure session's 30-minute limit. Prints the process's peak RSS against the goal, and what a read of
the first (oldest, on disk) and last turn's audio costs.
"""

from __future__ import annotations

import argparse
import base64
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from realtime_widgets.conversation import Conversation  # noqa: E402
from realtime_widgets.events import RealtimeEvent  # noqa: E402
from realtime_widgets.protocol import SAMPLE_RATE  # noqa: E402

GOAL_PEAK_RSS_MB = 150.0
TURN_S = 10
APPENDS_PER_TURN = TURN_S * 10
DELTAS_PER_TURN = TURN_S * 4


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MB."""
    with open("/proc/self/statm") as fh:
        current = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return current, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def simulate(conv: Conversation, hours: float, reconnect_minutes: float) -> int:
    rng = np.random.default_rng(3)
    # A few distinct payloads: the conversation decodes (and so copies) every one it is given.
    mic = [
        base64.b64encode(rng.integers(-3000, 3000, 2400, dtype=np.int16).tobytes()).decode() for _ in range(8)
    ]
    reply = [
        base64.b64encode(rng.integers(-3000, 3000, 6000, dtype=np.int16).tobytes()).decode() for _ in range(8)
    ]
    n_turns = int(hours * 3600 / TURN_S)
    turns_per_connection = max(1, int(reconnect_minutes * 60 / TURN_S))
    applied = 0

    def apply(direction: str, t: float, **raw: object) -> None:
        nonlocal applied
        conv.apply(RealtimeEvent.from_raw(raw, direction, t))  # type: ignore[arg-type]
        applied += 1

    clock_start = 0.0
    for k in range(n_turns):
        t0 = k * TURN_S
        if k % turns_per_connection == 0:
            clock_start = t0  # the new server session's audio clock starts at 0 ms here
            apply("server", t0, type="session.created", session={"id": f"sess_{k}"})
        ms = (t0 - clock_start) * 1000
        user, rid, item = f"item_u{k}", f"resp_{k}", f"item_a{k}"
        for j in range(APPENDS_PER_TURN):
            t = t0 + j / 10
            apply("client", t, type="input_audio_buffer.append", event_id=f"evt_{k}_{j}", audio=mic[j % 8])
            if j == 5:
                apply(
                    "server",
                    t,
                    type="input_audio_buffer.speech_started",
                    audio_start_ms=ms + 400,
                    item_id=user,
                )
            elif j == 35:
                apply(
                    "server",
                    t,
                    type="input_audio_buffer.speech_stopped",
                    audio_end_ms=ms + 3400,
                    item_id=user,
                )
                apply("server", t, type="input_audio_buffer.committed", item_id=user)
                apply(
                    "server",
                    t,
                    type="conversation.item.added",
                    item={
                        "id": user,
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_audio"}],
                    },
                )
                apply("server", t, type="response.created", response={"id": rid, "status": "in_progress"})
                apply(
                    "server",
                    t,
                    type="response.output_item.added",
                    response_id=rid,
                    item={"id": item, "type": "message", "role": "assistant"},
                )
        for j in range(DELTAS_PER_TURN):
            t = t0 + 3.5 + j * 0.15
            ids = {"response_id": rid, "item_id": item, "output_index": 0, "content_index": 0}
            apply(
                "server",
                t,
                type="response.output_audio_transcript.delta",
                event_id=f"e{k}_{j}t",
                delta=" word",
                **ids,
            )
            apply(
                "server",
                t,
                type="response.output_audio.delta",
                event_id=f"e{k}_{j}a",
                delta=reply[j % 8],
                **ids,
            )
        apply(
            "server",
            t0 + 9.9,
            type="response.done",
            response={"id": rid, "status": "completed", "usage": {"total_tokens": 1}},
        )
    return applied


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=4.0, help="length of the simulated session")
    parser.add_argument(
        "--reconnect-minutes", type=float, default=30.0, help="a new server session every N minutes"
    )
    args = parser.parse_args()
    if args.hours <= 0 or args.reconnect_minutes <= 0:
        parser.error("--hours and --reconnect-minutes must be positive")

    base_now, _ = rss_mb()
    conv = Conversation()
    started = time.perf_counter()
    applied = simulate(conv, args.hours, args.reconnect_minutes)
    elapsed = time.perf_counter() - started
    now, peak = rss_mb()

    audio_mb = (len(conv.input) + len(conv.output)) * 2 / 2**20
    verdict = "ok" if peak < GOAL_PEAK_RSS_MB else "MISSED"
    print(f"simulated {args.hours:g}-hour session, a reconnect every {args.reconnect_minutes:g} min:")
    print(
        f"  {applied} events applied in {elapsed:.1f} s ({applied / elapsed:,.0f}/s), {len(conv.turns)} turns"
    )
    print(f"  audio recorded (both directions)                 {audio_mb:8.1f} MB")
    print(
        f"  audio kept in memory / in the streams' files       {_in_memory_mb(conv):8.1f} MB / {_spilled_mb(conv):.1f} MB"
    )
    print(
        f"  events kept as objects / in the log's file         {len(conv.events) - conv.events.spilled} / {conv.events.spilled}"
    )
    print(f"  RSS after imports {base_now:.1f} MB, at the end {now:.1f} MB")
    print(
        f"  peak RSS                                         {peak:8.1f} MB   goal < {GOAL_PEAK_RSS_MB:g}  {verdict}"
    )
    for label, turn in (("first (on disk)", conv.turns[0]), ("last (in memory)", conv.turns[-1])):
        reads = []
        for _ in range(5):
            t = time.perf_counter()
            audio = turn.audio
            user = turn.user_audio
            reads.append((time.perf_counter() - t) * 1000)
        print(
            f"  {label} turn audio read: {len(audio) / SAMPLE_RATE:.1f} s reply + {len(user) / SAMPLE_RATE:.1f} s "
            f"user in {min(reads):.2f} ms (best of 5)"
        )
    conv.close()


def _in_memory_mb(conv: Conversation) -> float:
    return sum(len(s) - s.spilled_samples for s in (conv.input, conv.output)) * 2 / 2**20


def _spilled_mb(conv: Conversation) -> float:
    return sum(s.spilled_samples for s in (conv.input, conv.output)) * 2 / 2**20


if __name__ == "__main__":
    main()
