"""One emulator session must not hurt another (issue 10): synthesis, recognition, appends, floods.

Each test loads the emulator from one or more sessions and measures what a second, ordinary session
sees. Bounds are generous (a busy 2-core CI machine); the tight figures are in
bench/bench_emulator_isolation.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import websockets

from realtime_widgets.emulator import Emulator, default_reply, own_speech, synthesize
from realtime_widgets.protocol import MAX_OUTPUT_TOKENS

_SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank."


def long_text(words: int) -> str:
    base = _SENTENCE.split()
    return " ".join(base[i % len(base)] for i in range(words))


def reply(text: str | None, seconds: float) -> str:
    """`long N` asks for an N-word reply; anything else gets the default reply."""
    if text and text.startswith("long "):
        return long_text(int(text.split()[1]))
    return default_reply(text, seconds)


@pytest.fixture(scope="module")
def emu():
    with Emulator(reply=reply) as e:
        yield e


class Client:
    """A raw realtime client; a background task keeps reading so the server never waits on us."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.queue: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.queue.put_nowait((time.perf_counter(), json.loads(raw)))
        except websockets.ConnectionClosed:
            pass

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(event))

    async def until(self, kind: str, timeout: float) -> tuple[float, dict[str, Any]]:
        """(arrival time, event) of the next event of type `kind`."""
        deadline = time.perf_counter() + timeout
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"no {kind} within {timeout} s")
            at, ev = await asyncio.wait_for(self.queue.get(), left)
            if ev["type"] == "error":
                raise AssertionError(f"server error while waiting for {kind}: {ev['error']}")
            if ev["type"] == kind:
                return at, ev

    async def round_trip(self) -> float:
        """Seconds from a client event to the server's answer (a deliberate item_not_found)."""
        t0 = time.perf_counter()
        await self.send({"type": "conversation.item.retrieve", "item_id": "probe"})
        while True:
            at, ev = await self.queue.get()
            if ev["type"] == "error" and "probe" in ev["error"]["message"]:
                return at - t0

    async def close(self) -> None:
        await self.ws.close()
        await self.reader


async def connect(emu: Emulator, session: dict[str, Any] | None = None) -> Client:
    url = f"ws://127.0.0.1:{emu.port}/openai/v1/realtime?model={emu.deployment}"
    ws = await websockets.connect(url, additional_headers={"api-key": emu.api_key}, max_size=None)
    client = Client(ws)
    await client.until("session.created", 10)
    if session is not None:
        await client.send({"type": "session.update", "session": {"type": "realtime", **session}})
        await client.until("session.updated", 10)
    return client


def text_item(text: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
    }


def b64(samples: np.ndarray) -> str:
    return base64.b64encode(samples.astype("<i2").tobytes()).decode()


def foreign_speech(seconds: float) -> np.ndarray:
    """Speech the emulator does not remember making, so pocketsphinx must decode it."""
    text = " ".join([_SENTENCE] * 8)
    speech = synthesize(text, voice="ash")
    own_speech.forget(text)  # a dither alone would not hide it: own speech is recognised by its sound
    reps = int(np.ceil(seconds * 24000 / len(speech)))
    audio = np.tile(speech, reps)[: int(seconds * 24000)].astype(np.int32)
    audio += np.random.default_rng(7).integers(-1, 2, len(audio))
    return audio.clip(-32768, 32767).astype(np.int16)


MANUAL = {"audio": {"input": {"turn_detection": None}}}


async def test_long_replies_elsewhere_do_not_delay_a_sessions_first_audio(emu):
    # Twelve sessions ask for 450-word spoken replies (about 2.5 minutes of audio each) at once.
    busy = [await connect(emu) for _ in range(12)]
    try:
        for c in busy:
            await c.send(text_item("long 450"))
            await c.send({"type": "response.create"})
        for c in busy:
            await c.until("response.created", 20)
        probe = await connect(emu)
        await probe.send(text_item("hello"))
        t0 = time.perf_counter()
        await probe.send({"type": "response.create"})
        at, _ = await probe.until("response.output_audio.delta", 60)
        waited = at - t0
        await probe.until("response.done", 30)
        await probe.close()
    finally:
        for c in busy:
            await c.close()
    # Alone it takes about 20 ms; behind 12 whole replies synthesised first it took seconds. 2.5 s:
    # 1.35 s was seen with the suite sharing 2 cores with four others' (bench/ holds the tight goal).
    assert waited < 2.5, f"first audio came {waited:.2f} s after response.create"


@pytest.fixture(scope="module")
def fast_emu():
    """Audio streamed as fast as it is made, so a capped reply's whole audio arrives in seconds."""
    with Emulator(reply=reply, output_pace=1000.0, recognize=False) as e:
        yield e


@pytest.mark.parametrize("limit", [None, "inf"])
async def test_unlimited_output_is_capped_at_the_services_maximum(fast_emu, limit):
    session: dict[str, Any] = {} if limit is None else {"max_output_tokens": limit}
    client = await connect(fast_emu, session)
    try:
        await client.send(text_item("long 5000"))
        await client.send({"type": "response.create"})
        audio_bytes = 0
        while True:
            _, ev = await asyncio.wait_for(client.queue.get(), 60)
            if ev["type"] == "response.output_audio.delta":
                audio_bytes += len(base64.b64decode(ev["delta"]))
            if ev["type"] == "response.done":
                break
    finally:
        await client.close()
    response = ev["response"]
    assert response["status"] == "incomplete", response["status_details"]
    assert response["status_details"]["reason"] == "max_output_tokens"
    assert response["usage"]["output_tokens"] <= MAX_OUTPUT_TOKENS
    # 20 audio tokens a second (usage.py): the capped reply is minutes of audio, not 5000 words' half hour.
    assert audio_bytes / 48000 <= MAX_OUTPUT_TOKENS / 20


async def test_a_short_turn_is_recognised_while_another_session_commits_three_minutes(emu):
    long_turn, short_turn = foreign_speech(180.0), foreign_speech(2.0)
    a = await connect(emu, MANUAL)
    b = await connect(emu, MANUAL)
    try:
        for i in range(0, len(long_turn), 240_000):  # 10 s appends
            await a.send({"type": "input_audio_buffer.append", "audio": b64(long_turn[i : i + 240_000])})
        await a.send({"type": "input_audio_buffer.commit"})
        await a.until("input_audio_buffer.committed", 30)
        await asyncio.sleep(0.5)  # A's decoding is under way
        await b.send({"type": "input_audio_buffer.append", "audio": b64(short_turn)})
        await b.send({"type": "input_audio_buffer.commit"})
        t0 = time.perf_counter()
        await b.send({"type": "response.create"})
        at, done = await b.until("response.done", 60)
    finally:
        await a.close()
        await b.close()
    took = at - t0
    transcript = done["response"]["output"][0]["content"][0]["transcript"]
    assert transcript.startswith("You said"), f"B's turn was recognised: {transcript!r}"
    # Alone about 1 s (decode 0.4 s, the reply streamed at 4x; 3 s on a loaded machine); behind
    # A's 3 minutes it took 43 s. Now it waits for one slice of A's.
    assert took < 12.0, f"B's 2-second turn took {took:.1f} s to response.done"


def _thread_cpu_s(tid: int) -> float:
    fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="per-thread CPU is read from /proc")
@pytest.mark.parametrize("session", [MANUAL, {}], ids=["manual", "server_vad_in_speech"])
async def test_append_cost_is_flat_as_the_uncommitted_buffer_grows(emu, session):
    tid = emu._thread.native_id
    # Loud noise keeps server VAD in speech, so nothing is committed or dropped for 15 minutes.
    chunk = np.random.default_rng(1).integers(-8000, 8000, 2400).astype(np.int16)  # 100 ms
    frame = json.dumps({"type": "input_audio_buffer.append", "audio": b64(chunk)})
    client = await connect(emu, session)

    async def appends(n: int) -> float:
        cpu0 = _thread_cpu_s(tid)
        for k in range(n):
            await client.ws.send(frame)
            if k % 300 == 299:
                await client.round_trip()  # keep the server's backlog short
        await client.round_trip()
        return _thread_cpu_s(tid) - cpu0

    try:
        minute_1 = await appends(600)
        await appends(600 * 13)
        minute_15 = await appends(600)
        await client.send({"type": "input_audio_buffer.clear"})
        await client.until("input_audio_buffer.cleared", 10)
    finally:
        await client.close()
    assert minute_15 < 2 * minute_1 + 0.1, (
        f"600 appends cost {minute_1:.2f} s of CPU in minute 1 and {minute_15:.2f} s in minute 15"
    )


# The flood comes from another process, so this process's GIL serves the emulator and the probe only.
_FLOOD = """
import asyncio, json, sys, websockets

async def main(url, key, n):
    async with websockets.connect(url, additional_headers={"api-key": key}, max_size=None) as ws:
        await ws.recv()
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "flood"}]}
        frame = json.dumps({"type": "conversation.item.create", "item": item})

        async def drain():
            async for raw in ws:
                if "flood-end" in raw:
                    return

        reader = asyncio.ensure_future(drain())
        for _ in range(n):
            await ws.send(frame)
        await ws.send(json.dumps({"type": "conversation.item.retrieve", "item_id": "flood-end"}))
        await reader

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


async def test_a_flood_on_one_session_leaves_anothers_round_trip_low(emu):
    url = f"ws://127.0.0.1:{emu.port}/openai/v1/realtime?model={emu.deployment}"
    probe = await connect(emu, MANUAL)
    pings: list[float] = []
    trips: list[float] = []
    flooder = await asyncio.create_subprocess_exec(sys.executable, "-c", _FLOOD, url, emu.api_key, "10000")
    try:
        flooding = asyncio.ensure_future(flooder.wait())
        while not flooding.done():
            t0 = time.perf_counter()
            await asyncio.wait_for(await probe.ws.ping(), 30)
            pings.append(time.perf_counter() - t0)
            trips.append(await asyncio.wait_for(probe.round_trip(), 30))
            await asyncio.sleep(0.02)
        assert flooding.result() == 0, "the flood ran to its end"
    finally:
        if flooder.returncode is None:
            flooder.kill()
            await flooder.wait()
        await probe.close()
    assert len(pings) >= 5, "the probe measured while the flood went on"
    # Before, the flooded session held the loop until its backlog was handled: 1.3-2.9 s; now
    # 0.06-0.13 s (up to 0.9 s with the machine's load at 10 on 2 cores).
    assert max(pings) < 1.0, f"ping round trips under the flood: max {max(pings) * 1000:.0f} ms"
    assert max(trips) < 1.0, f"event round trips under the flood: max {max(trips) * 1000:.0f} ms"
