"""Client-core figures: kernel-side cost of appending audio, and memory of an hour-long session.

    python bench/bench_session.py [--chunks 600] [--minutes 60]

1. `append_audio` per 100 ms chunk against the in-process emulator: the time the kernel's event
   loop spends on one chunk (resample from 48 kHz float32 like a browser mic, encode, record, queue)
   with `append_audio_nowait`, and the time until it is on the socket with `await append_audio`.
2. A simulated session of N minutes fed to a `Conversation` as events (100 ms client appends, 250 ms
   assistant audio deltas with transcript deltas, a turn every 10 s): memory per audio direction
   (tracemalloc) and process RSS. Audio beyond the conversation's in-memory bound lives in its
   streams' files (bench_long_session.py follows a 4-hour session).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

os.environ.setdefault("no_proxy", "*")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from realtime_widgets.conversation import Conversation  # noqa: E402
from realtime_widgets.emulator import DEFAULT_DEPLOYMENT, PLACEHOLDER_KEY  # noqa: E402
from realtime_widgets.events import RealtimeEvent  # noqa: E402
from realtime_widgets.protocol import SAMPLE_RATE  # noqa: E402

GOAL_APPEND_P99_MS = 1.0
GOAL_MB_PER_DIRECTION = 200.0


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return statistics.median(ordered), p99


class EmulatorProcess:
    """The emulator in its own process, so the figures are the client's alone (no shared GIL)."""

    deployment = DEFAULT_DEPLOYMENT
    api_key = PLACEHOLDER_KEY

    def __enter__(self) -> EmulatorProcess:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        root = str(Path(__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
        cmd = [sys.executable, "-m", "realtime_widgets.emulator", "--port", str(self.port), "--no-recognizer"]
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.proc.kill()
        raise RuntimeError("the emulator process did not start listening within 30 s")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(10)


async def bench_append(n_chunks: int) -> None:
    from realtime_widgets.config import ConnectionConfig
    from realtime_widgets.session import RealtimeSession
    from realtime_widgets.session_config import SessionConfig

    rng = np.random.default_rng(0)
    mic_rate = 48_000
    chunks = [(rng.standard_normal(mic_rate // 10) * 0.01).astype(np.float32) for _ in range(n_chunks)]
    pcm_chunks = [(c[::2] * 32767).astype(np.int16) for c in chunks]
    results: dict[str, tuple[list[float], list[float]]] = {}

    async def run(label: str, items: list[np.ndarray], rate: int, awaited: bool, s: RealtimeSession) -> None:
        wall: list[float] = []
        cpu: list[float] = []
        for chunk in items:
            t, c = time.perf_counter(), time.thread_time()
            if awaited:
                await s.append_audio(chunk, rate=rate)
            else:
                s.append_audio_nowait(chunk, rate=rate)
            cpu.append((time.thread_time() - c) * 1000)
            wall.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(0)  # let the sender run, as between two comm messages
        await s.send_event({"type": "input_audio_buffer.clear"})
        results[label] = (cpu, wall)

    with EmulatorProcess() as emu:
        # Manual turn detection: the emulator only buffers, so the numbers are the client's.
        async with RealtimeSession(
            ConnectionConfig.for_emulator(emu), SessionConfig(turn_detection="manual")
        ) as s:
            await run("append_audio_nowait, float32 48 kHz (resample+encode)", chunks, mic_rate, False, s)
            await run("append_audio_nowait, int16 24 kHz (encode only)", pcm_chunks, SAMPLE_RATE, False, s)
            await run("await append_audio, float32 48 kHz (until sent)", chunks, mic_rate, True, s)
    print(f"append per 100 ms chunk, {n_chunks} chunks each (ms; CPU = time the kernel's loop thread worked,")
    print("wall includes being preempted on a shared machine and, when awaited, waiting for the socket)")
    print(f"  {'':<55} {'CPU p50':>8} {'CPU p99':>8} {'wall p50':>8} {'wall p99':>8}  goal CPU p99")
    for label, (cpu, wall) in results.items():
        c50, c99 = percentiles(cpu)
        w50, w99 = percentiles(wall)
        verdict = "ok" if c99 < GOAL_APPEND_P99_MS else "MISSED"
        print(
            f"  {label:<55} {c50:8.3f} {c99:8.3f} {w50:8.3f} {w99:8.3f}  < {GOAL_APPEND_P99_MS:g} {verdict}"
        )


def bench_memory(minutes: float) -> None:
    seconds = int(minutes * 60)
    rng = np.random.default_rng(1)
    conv = Conversation()
    t = 0.0
    conv.apply(RealtimeEvent.from_raw({"type": "session.created", "session": {}}, "server", t))

    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    # Input: 100 ms appends, exactly as RealtimeSession records them (the conversation stores the payload).
    n_appends = seconds * 10
    for i in range(n_appends):
        chunk = rng.integers(-3000, 3000, 2400, dtype=np.int16).tobytes()
        raw = {
            "type": "input_audio_buffer.append",
            "event_id": f"evt_{i}",
            "audio": base64.b64encode(chunk).decode(),
        }
        conv.apply(RealtimeEvent.from_raw(raw, "client", i * 0.1))
    after_input = tracemalloc.get_traced_memory()[0]

    # Output: a response every 10 s made of 250 ms deltas (12000 bytes) and a transcript word per delta.
    payload = base64.b64encode(rng.integers(-3000, 3000, 6000, dtype=np.int16).tobytes()).decode()
    deltas_per_turn = 40
    n_turns = seconds // 10
    for k in range(n_turns):
        rid, item = f"resp_{k}", f"item_{k}"
        t = k * 10.0
        events = [
            {"type": "response.created", "response": {"id": rid, "status": "in_progress"}},
            {
                "type": "response.output_item.added",
                "response_id": rid,
                "item": {"id": item, "type": "message", "role": "assistant"},
            },
        ]
        for e in events:
            conv.apply(RealtimeEvent.from_raw(e, "server", t))
        for j in range(deltas_per_turn):
            ids = {"response_id": rid, "item_id": item, "output_index": 0, "content_index": 0}
            conv.apply(
                RealtimeEvent.from_raw(
                    {
                        "type": "response.output_audio_transcript.delta",
                        "event_id": f"e{k}_{j}t",
                        **ids,
                        "delta": " word",
                    },
                    "server",
                    t + j * 0.25,
                )
            )
            conv.apply(
                RealtimeEvent.from_raw(
                    {
                        "type": "response.output_audio.delta",
                        "event_id": f"e{k}_{j}a",
                        **ids,
                        "delta": payload,
                    },
                    "server",
                    t + j * 0.25,
                )
            )
        done = {
            "type": "response.done",
            "response": {"id": rid, "status": "completed", "usage": {"total_tokens": 1}},
        }
        conv.apply(RealtimeEvent.from_raw(done, "server", t + 10))
    after_output, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    mb = 1024 * 1024
    input_mb = (after_input - base) / mb
    output_mb = (after_output - after_input) / mb
    audio_mb = seconds * SAMPLE_RATE * 2 / mb
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nsimulated {minutes:g}-minute session: {len(conv.events)} events, {len(conv.turns)} turns")
    print(f"  raw PCM16 per direction (memory + the stream's file)    {audio_mb:8.1f} MB")
    for label, value in (
        ("input (client appends + their events)", input_mb),
        ("output (deltas + turns)", output_mb),
    ):
        verdict = "ok" if value < GOAL_MB_PER_DIRECTION else "MISSED"
        print(f"  {label:<55} {value:8.1f} MB   goal < {GOAL_MB_PER_DIRECTION:g}  {verdict}")
    print(f"  tracemalloc peak {peak / mb:.1f} MB, process max RSS {rss_mb:.1f} MB")
    # Reading one turn's audio back stays cheap however long the session is.
    reads = []
    for _ in range(5):
        t = time.perf_counter()
        last = conv.turns[-1].audio
        reads.append((time.perf_counter() - t) * 1000)
    print(f"  last turn audio read: {len(last) / SAMPLE_RATE:.1f} s in {min(reads):.2f} ms (best of 5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=600, help="100 ms chunks per append variant")
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the simulated session")
    args = parser.parse_args()
    asyncio.run(bench_append(args.chunks))
    bench_memory(args.minutes)


if __name__ == "__main__":
    main()
