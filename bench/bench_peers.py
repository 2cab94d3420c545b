"""Peer benchmark: the same scripted turns through RealtimeSession, openai-agents and a bare SDK loop.

    python bench/bench_peers.py [--turns 10] [--profile]

One emulator process serves three clients in this process: (a) `RealtimeSession.send_text` /
`send_audio`, (b) openai-agents' `RealtimeAgent` + `RealtimeRunner`, (c) the quickstarts' bare
`AsyncOpenAI(...).realtime.connect()` loop (parse every event, decode the audio deltas). Each
client does the same two turns, interleaved so they share the machine's noise: text in → audio
out, and a spoken turn (a 2.5 s clip appended in 100 ms chunks, committed, a response asked for;
manual turn detection everywhere). Per turn: client CPU (`time.process_time()` of this process:
the emulator runs elsewhere), time to first audio (turn start → the first output audio delta as
the client surfaces it) and the `error` events the client surfaced. `--profile` adds a cProfile
of RealtimeSession's turns. Figures are printed next to their goals; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import io
import os
import pstats
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
for _name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_name, None)
os.environ["no_proxy"] = "*"

import numpy as np  # noqa: E402
from bench_session import EmulatorProcess  # noqa: E402

from realtime_widgets.events import parse_audio_ref  # noqa: E402
from realtime_widgets.protocol import SAMPLE_RATE  # noqa: E402

DEPLOYMENT = "gpt-realtime"
KEY = "bench-key"
VOICE = "alloy"
INSTRUCTIONS = "You are a helpful assistant. Answer briefly."
CHUNK = SAMPLE_RATE // 10  # 100 ms, as a microphone sends it
TEXT = "Say hello in five words."
TURN_TIMEOUT_S = 20.0
SETTLE_S = 0.05  # trailing events of a response (after response.done) still count for its turn
GOAL_RATIO_VS_BARE = 1.2


@dataclass
class TurnProbe:
    """What one turn cost the client, filled in by the client's own event handling."""

    start: float = field(default_factory=time.perf_counter)
    first_audio: float | None = None
    errors: int = 0
    audio_bytes: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def on_audio(self, n_bytes: int) -> None:
        if self.first_audio is None:
            self.first_audio = time.perf_counter()
        self.audio_bytes += n_bytes


@dataclass
class TurnResult:
    cpu_ms: float
    ttfa_ms: float | None
    errors: int
    audio_s: float
    failure: str | None  # a timeout or the exception the client raised


async def measure(run_turn: Callable[[TurnProbe], Awaitable[None]]) -> TurnResult:
    probe = TurnProbe()
    cpu0 = time.process_time()
    failure = None
    try:
        await asyncio.wait_for(run_turn(probe), TURN_TIMEOUT_S)
    except TimeoutError:
        failure = f"no response.done within {TURN_TIMEOUT_S:g} s"
    except Exception as exc:  # a failed turn is a figure too; the run goes on
        failure = f"{type(exc).__name__}: {exc}"
    await asyncio.sleep(SETTLE_S)
    cpu_ms = (time.process_time() - cpu0) * 1000
    ttfa = None if probe.first_audio is None else (probe.first_audio - probe.start) * 1000
    return TurnResult(cpu_ms, ttfa, probe.errors, probe.audio_bytes / 2 / SAMPLE_RATE, failure)


def chunks(pcm: np.ndarray) -> list[np.ndarray]:
    return [pcm[i : i + CHUNK] for i in range(0, pcm.size, CHUNK)]


class WidgetsClient:
    """(a) realtime_widgets.RealtimeSession: the turn is one awaited call."""

    name = "RealtimeSession"

    def __init__(self, port: int) -> None:
        from realtime_widgets.config import ConnectionConfig
        from realtime_widgets.session import RealtimeSession
        from realtime_widgets.session_config import SessionConfig

        connection = ConnectionConfig(
            endpoint=f"http://127.0.0.1:{port}", deployment=DEPLOYMENT, api_key=KEY, is_emulator=True
        )
        config = SessionConfig(instructions=INSTRUCTIONS, voice=VOICE, turn_detection="manual")
        self.session = RealtimeSession(connection, config)
        self.probe: TurnProbe | None = None
        self.setup_errors = 0

    async def open(self) -> None:
        await self.session.__aenter__()
        self.setup_errors = len(self.session.errors)
        self.session.on("response.output_audio.delta", self._on_delta)
        self.session.on("error", self._on_error)

    def _on_delta(self, event) -> None:
        ref = parse_audio_ref(event.raw.get("delta"))
        if self.probe is not None and ref is not None:
            self.probe.on_audio(2 * (ref[2] - ref[1]))

    def _on_error(self, event) -> None:
        if self.probe is not None:
            self.probe.errors += 1

    async def text_turn(self, probe: TurnProbe) -> None:
        self.probe = probe
        await self.session.send_text(TEXT)

    async def spoken_turn(self, probe: TurnProbe, pcm: np.ndarray) -> None:
        self.probe = probe
        await self.session.send_audio(pcm)

    async def close(self) -> None:
        await self.session.__aexit__(None, None, None)


class AgentsClient:
    """(b) openai-agents RealtimeAgent + RealtimeRunner: events come from iterating the session."""

    name = "openai-agents"

    def __init__(self, port: int) -> None:
        from agents.realtime import RealtimeAgent, RealtimeRunner

        self.runner = RealtimeRunner(RealtimeAgent(name="bench", instructions=INSTRUCTIONS))
        self.model_config = {
            "url": f"ws://127.0.0.1:{port}/openai/v1/realtime?model={DEPLOYMENT}",
            "headers": {"api-key": KEY},
            "initial_model_settings": {
                "voice": VOICE,
                "output_modalities": ["audio"],
                "turn_detection": None,
                "input_audio_transcription": None,
            },
        }
        self.probe: TurnProbe | None = None
        self.setup_errors = 0
        self.session = None
        self.reader: asyncio.Task | None = None
        self.configured = asyncio.Event()

    async def open(self) -> None:
        self.session = await self.runner.run(model_config=self.model_config)
        await self.session.enter()
        self.reader = asyncio.create_task(self._read())
        try:
            await asyncio.wait_for(self.configured.wait(), TURN_TIMEOUT_S)
        except TimeoutError:
            raise RuntimeError(
                f"openai-agents: no session.updated within {TURN_TIMEOUT_S:g} s "
                f"({self.setup_errors} error events while configuring)"
            ) from None

    async def _read(self) -> None:
        async for event in self.session:
            probe = self.probe
            if event.type == "raw_model_event" and event.data.type == "raw_server_event":
                if event.data.data.get("type") == "session.updated":
                    self.configured.set()
            elif event.type == "audio":
                if probe is not None:
                    probe.on_audio(len(event.audio.data))
            elif event.type == "error":
                if probe is None:
                    self.setup_errors += 1
                else:
                    probe.errors += 1
            elif event.type == "agent_end" and probe is not None:
                probe.done.set()

    async def text_turn(self, probe: TurnProbe) -> None:
        self.probe = probe
        await self.session.send_message(TEXT)
        await probe.done.wait()

    async def spoken_turn(self, probe: TurnProbe, pcm: np.ndarray) -> None:
        from agents.realtime.model_inputs import RealtimeModelSendRawMessage

        self.probe = probe
        pieces = chunks(pcm)
        for i, piece in enumerate(pieces):
            await self.session.send_audio(piece.tobytes(), commit=i == len(pieces) - 1)
        await self.session.model.send_event(RealtimeModelSendRawMessage(message={"type": "response.create"}))
        await probe.done.wait()

    async def close(self) -> None:
        await self.session.close()
        if self.reader is not None:
            self.reader.cancel()


class BareClient:
    """(c) the quickstarts' loop: send, then `async for event in connection` until response.done."""

    name = "bare SDK loop"

    def __init__(self, port: int) -> None:
        from openai import AsyncOpenAI

        self.client = AsyncOpenAI(websocket_base_url=f"ws://127.0.0.1:{port}/openai/v1", api_key=KEY)
        self.setup_errors = 0
        self.manager = None
        self.connection = None

    async def open(self) -> None:
        self.manager = self.client.realtime.connect(model=DEPLOYMENT)
        self.connection = await self.manager.__aenter__()
        session = {
            "type": "realtime",
            "instructions": INSTRUCTIONS,
            "output_modalities": ["audio"],
            "audio": {"input": {"turn_detection": None}, "output": {"voice": VOICE}},
        }
        await self.connection.session.update(session=session)
        async for event in self.connection:
            if event.type == "error":
                self.setup_errors += 1
            if event.type in ("session.updated", "error"):
                break

    async def _until_done(self, probe: TurnProbe) -> None:
        async for event in self.connection:
            if event.type == "response.output_audio.delta":
                probe.on_audio(len(base64.b64decode(event.delta)))
            elif event.type == "error":
                probe.errors += 1
            elif event.type == "response.done":
                return

    async def text_turn(self, probe: TurnProbe) -> None:
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": TEXT}]}
        await self.connection.conversation.item.create(item=item)
        await self.connection.response.create()
        await self._until_done(probe)

    async def spoken_turn(self, probe: TurnProbe, pcm: np.ndarray) -> None:
        for piece in chunks(pcm):
            await self.connection.input_audio_buffer.append(audio=base64.b64encode(piece.tobytes()).decode())
        await self.connection.input_audio_buffer.commit()
        await self.connection.response.create()
        await self._until_done(probe)

    async def close(self) -> None:
        await self.manager.__aexit__(None, None, None)


KINDS = ("text in → audio out", "spoken turn (audio in, commit)")


async def one_turn(client, kind: str, clip: np.ndarray) -> TurnResult:
    if kind == KINDS[0]:
        return await measure(client.text_turn)
    return await measure(lambda probe: client.spoken_turn(probe, clip))


def spoken_clip() -> np.ndarray:
    from realtime_widgets.emulator import synthesize

    pcm = synthesize("What will the weather be like in Paris tomorrow?", VOICE)
    return np.concatenate([pcm, np.zeros(CHUNK * 3, np.int16)])


async def run_peers(n_turns: int, profile: bool) -> None:
    clip = spoken_clip()
    with EmulatorProcess() as emu:
        clients = [BareClient(emu.port), WidgetsClient(emu.port), AgentsClient(emu.port)]
        for client in clients:
            await client.open()
        results: dict[tuple[str, str], list[TurnResult]] = {}
        for round_no in range(n_turns + 1):  # round 0 warms every path up and is not counted
            shift = round_no % len(clients)
            for client in clients[shift:] + clients[:shift]:
                for kind in KINDS:
                    result = await one_turn(client, kind, clip)
                    if round_no:
                        results.setdefault((client.name, kind), []).append(result)
        profiler = await profile_widgets(clients[1], clip, n_turns) if profile else None
        for client in clients:
            await client.close()
    report(clients, results, n_turns, clip.size / SAMPLE_RATE)
    if profiler is not None:
        report_profile(profiler, 2 * n_turns)


async def profile_widgets(client: WidgetsClient, clip: np.ndarray, n_turns: int) -> cProfile.Profile:
    profiler = cProfile.Profile(time.process_time)  # CPU, so waiting in epoll costs nothing
    for _ in range(n_turns):
        for kind in KINDS:
            profiler.enable()
            await one_turn(client, kind, clip)
            profiler.disable()
    return profiler


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def report(clients: list, results: dict, n_turns: int, clip_s: float) -> None:
    bare = clients[0].name
    print(
        f"{n_turns} turns of each kind per client, interleaved; spoken clip {clip_s:.1f} s in 100 ms appends"
    )
    print("CPU = this process's CPU time over the turn (the emulator is another process);")
    print("first audio = turn start → first output audio delta as the client surfaces it")
    verdicts = []
    for kind in KINDS:
        print(f"\n{kind}")
        print(
            f"  {'client':<17} {'CPU p50':>8} {'p90':>7} {'vs bare':>7}   {'1st audio p50':>13} {'p90':>5} "
            f"{'vs bare':>7}   {'errors/turn':>11} {'audio s':>7} {'failed':>6}"
        )
        rows_of = {c.name: results[(c.name, kind)] for c in clients}
        cpu_p50 = {name: pct([r.cpu_ms for r in rows], 50) for name, rows in rows_of.items()}
        ttfa_of = {name: [r.ttfa_ms for r in rows if r.ttfa_ms is not None] for name, rows in rows_of.items()}
        for name, rows in rows_of.items():
            ttfa = ttfa_of[name]
            print(
                f"  {name:<17} {cpu_p50[name]:6.2f}ms {pct([r.cpu_ms for r in rows], 90):5.2f}ms "
                f"{cpu_p50[name] / cpu_p50[bare]:6.2f}x   {pct(ttfa, 50):11.1f}ms {pct(ttfa, 90):3.0f}ms "
                f"{pct(ttfa, 50) / pct(ttfa_of[bare], 50):6.2f}x   {mean([r.errors for r in rows]):11.1f} "
                f"{mean([r.audio_s for r in rows]):7.2f} {sum(r.failure is not None for r in rows):6d}"
            )
            failures = [r.failure for r in rows if r.failure is not None]
            if failures:
                print(f"    first failure: {failures[0]}")
        ratio = cpu_p50["RealtimeSession"] / cpu_p50[bare]
        ok = ratio <= GOAL_RATIO_VS_BARE and cpu_p50["RealtimeSession"] < cpu_p50["openai-agents"]
        verdicts.append(ok)
        print(
            f"  goal: RealtimeSession CPU p50 ≤ {GOAL_RATIO_VS_BARE:g}× the bare loop and below openai-agents: "
            f"{ratio:.2f}× bare, {cpu_p50['RealtimeSession'] / cpu_p50['openai-agents']:.2f}× agents  "
            f"{'ok' if ok else 'MISSED'}"
        )
    setup = ", ".join(f"{c.name} {c.setup_errors}" for c in clients)
    print(f"\nerror events while connecting and configuring the session: {setup}")
    print(f"overall: {'ok' if all(verdicts) else 'MISSED'}")


def mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def report_profile(profiler: cProfile.Profile, n_turns: int) -> None:
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    by_file: dict[str, float] = {}
    for (filename, _line, func), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        key = func if filename == "~" else short_path(filename)
        by_file[key] = by_file.get(key, 0.0) + tottime
    print(
        f"\nprofile of RealtimeSession: {n_turns} turns, {total * 1000 / n_turns:.2f} ms per turn under cProfile (CPU time)"
    )
    print("  own time by file (top 12):")
    for path, seconds in sorted(by_file.items(), key=lambda kv: -kv[1])[:12]:
        print(f"    {seconds * 1000 / n_turns:7.2f} ms/turn {100 * seconds / total:5.1f} %  {path}")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(r"realtime_widgets", 15)
    print("  cumulative time in realtime_widgets functions (top 15):")
    for line in out.getvalue().splitlines():
        if "realtime_widgets" in line or "ncalls" in line:
            print("   ", line.replace(str(ROOT) + "/", ""))


def short_path(filename: str) -> str:
    for marker in ("site-packages/", "lib/python3.11/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename.replace(str(ROOT) + "/", "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=10, help="measured turns of each kind per client")
    parser.add_argument(
        "--profile", action="store_true", help="also profile RealtimeSession's turns (cProfile)"
    )
    args = parser.parse_args()
    if args.turns < 1:
        parser.error(f"--turns must be at least 1, got {args.turns}")
    asyncio.run(run_peers(args.turns, args.profile))


if __name__ == "__main__":
    main()
