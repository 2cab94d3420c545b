"""Emulator benchmark: first-audio latency and event delivery lag under 20 live sessions.

    python bench/bench_emulator.py [--quick] [--sessions 20] [--seconds 15] [--recognizer]

The emulator runs as its own process (the CLI), so its CPU use is measured apart from the
clients. Figures are printed next to their goals; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
for _name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_name, None)
os.environ["no_proxy"] = "*"

from realtime_widgets.emulator import Emulator, synthesize  # noqa: E402

SR = 24_000
CHUNK = 2400  # 100 ms
KEY = "bench-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


async def connect(port: int):
    url = f"ws://127.0.0.1:{port}/openai/v1/realtime?model=gpt-realtime"
    ws = await websockets.connect(url, additional_headers={"api-key": KEY}, max_size=None)
    assert json.loads(await ws.recv())["type"] == "session.created"
    return ws


async def first_audio_latency(port: int, n: int) -> list[float]:
    ws = await connect(port)
    await ws.send(
        json.dumps(
            {
                "type": "session.update",
                "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}},
            }
        )
    )
    out = []
    for i in range(-1, n):  # the first round is a warm-up and is not counted
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": f"latency probe {i}"}],
        }
        await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
        t0 = time.perf_counter()
        await ws.send(json.dumps({"type": "response.create"}))
        first = None
        while True:
            ev = json.loads(await ws.recv())
            if ev["type"] == "response.output_audio.delta" and first is None:
                first = time.perf_counter() - t0
            if ev["type"] == "response.done":  # rate_limits.updated now comes first, at response.created
                break
        if i >= 0:
            out.append(first * 1000)
    await ws.close()
    return out


async def stream_session(
    port: int, signal: np.ndarray, seconds: float, lags: list[float], counts: dict[str, int], phase_s: float
) -> None:
    ws = await connect(port)
    vad = {"type": "server_vad", "silence_duration_ms": 500, "prefix_padding_ms": 300}
    await ws.send(
        json.dumps(
            {
                "type": "session.update",
                "session": {"type": "realtime", "audio": {"input": {"turn_detection": vad}}},
            }
        )
    )
    sent_at: list[float] = []

    async def reader() -> None:
        try:
            async for raw in ws:
                now = time.perf_counter()
                ev = json.loads(raw)
                kind = ev["type"]
                counts[kind] = counts.get(kind, 0) + 1
                # The chunk whose arrival made the VAD decide (see vad.py: 2 loud 20 ms frames to start).
                if kind == "input_audio_buffer.speech_started":
                    idx = -(-(ev["audio_start_ms"] + 40) // 100) - 1
                elif kind == "input_audio_buffer.speech_stopped":
                    idx = -(-ev["audio_end_ms"] // 100) - 1
                else:
                    continue
                if 0 <= idx < len(sent_at):
                    lags.append((now - sent_at[idx]) * 1000)
        except websockets.ConnectionClosed:
            pass

    task = asyncio.create_task(reader())
    # Independent users are not phase-locked: each session starts at its own offset within 100 ms.
    t0 = time.perf_counter() + phase_s
    n_chunks = int(seconds * 10)
    for k in range(n_chunks):
        delay = t0 + k * 0.1 - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        start = (k * CHUNK) % len(signal)
        chunk = signal[start : start + CHUNK]
        sent_at.append(time.perf_counter())
        await ws.send(
            json.dumps(
                {"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk.tobytes()).decode()}
            )
        )
    await asyncio.sleep(1.0)
    await ws.close()
    await task


async def concurrent(port: int, sessions: int, seconds: float) -> tuple[list[float], dict[str, int]]:
    speech = synthesize("Hello, this is a benchmark turn.", "ash")
    turn = np.concatenate([speech, np.zeros(SR * 1, np.int16)])
    turn = np.concatenate(
        [turn, np.zeros((-len(turn)) % CHUNK, np.int16)]
    )  # whole chunks, so turns repeat cleanly
    lags: list[float] = []
    counts: dict[str, int] = {}
    # Stagger starts so the sessions do not speak in lockstep.
    await asyncio.gather(
        *(
            stream_session(
                port, np.roll(turn, i * 4321 // CHUNK * CHUNK), seconds, lags, counts, 0.1 * i / sessions
            )
            for i in range(sessions)
        )
    )
    return lags, counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short run (a few seconds)")
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=None, help="streaming time per session")
    ap.add_argument("--recognizer", action="store_true", help="run pocketsphinx on every turn (CPU heavy)")
    args = ap.parse_args()
    seconds = args.seconds or (4.0 if args.quick else 15.0)
    n_latency = 10 if args.quick else 40

    load0 = f"{os.getloadavg()[0]:.2f}"
    t0 = time.perf_counter()
    with Emulator():
        start_s = time.perf_counter() - t0

    port = free_port()
    cmd = [sys.executable, "-m", "realtime_widgets.emulator", "--port", str(port), "--api-key", KEY]
    if not args.recognizer:
        cmd.append("--no-recognizer")
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    try:
        while "export AZURE_OPENAI_DEPLOYMENT_NAME" not in (
            proc.stdout.readline() or "export AZURE_OPENAI_DEPLOYMENT_NAME"
        ):
            pass
        latency = asyncio.run(first_audio_latency(port, n_latency))
        cpu0, wall0 = cpu_seconds(proc.pid), time.perf_counter()
        lags, counts = asyncio.run(concurrent(port, args.sessions, seconds))
        cpu = (cpu_seconds(proc.pid) - cpu0) / (time.perf_counter() - wall0)
    finally:
        proc.terminate()
        proc.wait(10)

    rows = [
        ("emulator start (in-process)", "< 500 ms", f"{start_s * 1000:.1f} ms"),
        ("response.create -> first audio delta p50", "<= 50 ms", f"{pct(latency, 50):.1f} ms"),
        ("response.create -> first audio delta p99", "<= 50 ms", f"{pct(latency, 99):.1f} ms"),
        (f"VAD event lag p50 ({args.sessions} sessions, real time)", "-", f"{pct(lags, 50):.1f} ms"),
        (f"VAD event lag p99 ({args.sessions} sessions, real time)", "< 20 ms", f"{pct(lags, 99):.1f} ms"),
        ("emulator CPU during streaming", "-", f"{cpu * 100:.0f}% of one core"),
        ("VAD events measured / responses done", "-", f"{len(lags)} / {counts.get('response.done', 0)}"),
    ]
    width = max(len(r[0]) for r in rows)
    print(
        f"\nEmulator benchmark ({'quick' if args.quick else 'full'}; {os.cpu_count()} cores; recognizer {'on' if args.recognizer else 'off'})"
    )
    print(
        f"load average before/after: {load0} / {os.getloadavg()[0]:.2f} (other work on the machine inflates p99)"
    )
    print(f"{'metric':<{width}}  {'goal':<9}  measured")
    print("-" * (width + 30))
    for name, goal, value in rows:
        print(f"{name:<{width}}  {goal:<9}  {value}")


if __name__ == "__main__":
    main()
