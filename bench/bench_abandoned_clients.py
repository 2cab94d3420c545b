"""Abandoned clients: frozen readers and idle sockets against the emulator's default limits (issue 10).

    python bench/bench_abandoned_clients.py [--frozen 40] [--idle 10] [--idle-timeout 5]

The emulator runs as its own process (the CLI, default write timeout), so its RSS is its own. Each
frozen client asks for a long spoken reply and then reads nothing; idle clients send nothing and do
not ping. Figures: live sessions over time, seconds until all are closed, the emulator's RSS at
start, at its peak and after. Nothing is asserted (tests/faults/test_emulator_input_faults.py does).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parents[1]
for _name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_name, None)
os.environ["no_proxy"] = "*"
KEY = "bench-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def live_sessions(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as r:
        return int(json.load(r)["live_sessions"])


async def frozen_client(url: str, port: int, words: int) -> websockets.ClientConnection:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    ws = await websockets.connect(
        url, sock=sock, additional_headers={"api-key": KEY}, max_queue=1, ping_interval=None, compression=None
    )
    text = " ".join(["weather"] * words)
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
    await ws.send(json.dumps({"type": "response.create"}))
    return ws


async def run(args: argparse.Namespace) -> None:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "realtime_widgets.emulator", "--port", str(port), "--api-key", KEY]
    cmd += ["--output-pace", "0", "--no-recognizer", "--idle-timeout", str(args.idle_timeout)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        assert proc.stdout is not None
        while "listening" not in proc.stdout.readline():
            pass
        url = f"ws://127.0.0.1:{port}/openai/v1/realtime?model=gpt-realtime"
        start_rss = rss_mb(proc.pid)
        t0 = time.monotonic()
        clients = [await frozen_client(url, port, args.words) for _ in range(args.frozen)]
        clients += [
            await websockets.connect(url, additional_headers={"api-key": KEY}, ping_interval=None)
            for _ in range(args.idle)
        ]
        peak, closed_at = start_rss, None
        while time.monotonic() - t0 < args.seconds:
            peak = max(peak, rss_mb(proc.pid))
            live = await asyncio.to_thread(live_sessions, port)
            print(
                f"  t={time.monotonic() - t0:5.1f} s  live sessions {live:3d}  emulator RSS {rss_mb(proc.pid):6.0f} MB"
            )
            if live == 0:
                closed_at = time.monotonic() - t0
                break
            await asyncio.sleep(1.0)
        for ws in clients:
            ws.transport.abort()
        await asyncio.sleep(2.0)
        print(
            f"{args.frozen} frozen + {args.idle} idle clients (write timeout 10 s, idle timeout {args.idle_timeout} s):"
        )
        print(
            f"  all closed after: {closed_at:.1f} s" if closed_at else f"  still live after {args.seconds} s"
        )
        print(
            f"  emulator RSS: start {start_rss:.0f} MB, peak {peak:.0f} MB, after {rss_mb(proc.pid):.0f} MB"
        )
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--frozen", type=int, default=40)
    p.add_argument("--idle", type=int, default=10)
    p.add_argument("--words", type=int, default=600, help="words of the reply each frozen client asks for")
    p.add_argument("--idle-timeout", type=float, default=5.0)
    p.add_argument("--seconds", type=float, default=90.0, help="give up after this long")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
