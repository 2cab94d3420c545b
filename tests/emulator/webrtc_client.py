"""A WebRTC caller built on aiortc, as a browser page would be: microphone track, data channel,
remote track recorded with arrival times. Used by the emulator's WebRTC tests (no browser)."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import time
from typing import Any

import aiohttp
import av
import numpy as np
import pytest
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from openai import AsyncOpenAI

RATE = 24000
FRAME = RATE // 50  # 20 ms


@pytest.fixture
async def calls_end(emulator):
    """After the test, every call it made has ended (no session left to count in later tests)."""
    from realtime_widgets.emulator.calls import CALLS_KEY

    live = emulator._runner.app[CALLS_KEY].live
    yield
    for _ in range(100):
        if not live:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"calls still live 5 s after the test: {list(live)}")


def rest_client(emu) -> AsyncOpenAI:
    return AsyncOpenAI(
        base_url=f"http://127.0.0.1:{emu.port}/openai/v1",
        websocket_base_url=f"ws://127.0.0.1:{emu.port}/openai/v1",
        api_key=emu.api_key,
    )


class Microphone(MediaStreamTrack):
    """Plays queued 24 kHz PCM at real time in 20 ms frames, silence otherwise."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.pending = np.zeros(0, np.int16)
        self._pts = 0
        self._t0 = 0.0
        self.spoken_until = 0.0  # monotonic time the last queued speech sample went out

    def say(self, samples: np.ndarray) -> None:
        self.pending = np.concatenate([self.pending, samples.astype(np.int16)])

    async def recv(self) -> av.AudioFrame:
        if self._t0 == 0.0:
            self._t0 = time.monotonic()
        wait = self._t0 + self._pts / RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        chunk, self.pending = self.pending[:FRAME], self.pending[FRAME:]
        if len(chunk):
            self.spoken_until = time.monotonic()
        chunk = np.concatenate([chunk, np.zeros(FRAME - len(chunk), np.int16)])
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, RATE)
        self._pts += FRAME
        return frame


class Caller:
    """One call: `await Caller.connect(emu, key)`; `events` fills from the data channel."""

    def __init__(self, label: str) -> None:
        self.pc = RTCPeerConnection()
        self.mic = Microphone()
        self.pc.addTrack(self.mic)
        self.channel = self.pc.createDataChannel(label)
        self.events: list[dict[str, Any]] = []
        self._new = asyncio.Event()
        self.opened = asyncio.Event()
        # The model's audio as received: (arrival monotonic time, 24 kHz mono samples).
        self.heard: list[tuple[float, np.ndarray]] = []
        self.location = ""
        self._tasks: list[asyncio.Task] = []

        @self.channel.on("open")
        def on_open() -> None:
            self.opened.set()

        @self.channel.on("message")
        def on_message(message: str) -> None:
            self.events.append(json.loads(message))
            self._new.set()

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._tasks.append(asyncio.ensure_future(self._record(track)))

    async def _record(self, track: MediaStreamTrack) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            for out in resampler.resample(frame):
                self.heard.append((time.monotonic(), out.to_ndarray().reshape(-1).copy()))

    @classmethod
    async def connect(cls, emu, key: str, *, label: str = "oai-events", query: str = "") -> Caller:
        caller = cls(label)
        await caller.pc.setLocalDescription(await caller.pc.createOffer())
        status, text, headers = await post_offer(emu, key, caller.pc.localDescription.sdp, query)
        assert status == 201, (status, text)
        caller.location = headers["Location"]
        await caller.pc.setRemoteDescription(RTCSessionDescription(sdp=text, type="answer"))
        await asyncio.wait_for(caller.opened.wait(), 10)
        return caller

    @property
    def call_id(self) -> str:
        return self.location.rsplit("/", 1)[-1]

    def send(self, event: dict[str, Any]) -> None:
        self.channel.send(json.dumps(event))

    async def until(self, kind: str, timeout: float = 20.0, start: int = 0) -> dict[str, Any]:
        """The first event of type `kind` at index >= start."""
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.events[start:]:
                if ev["type"] == kind:
                    return ev
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind} in {timeout}s; got {[e['type'] for e in self.events]}")
            self._new.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._new.wait(), left)

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def heard_audio(self, since: float = 0.0) -> np.ndarray:
        parts = [s for t, s in self.heard if t >= since]
        return np.concatenate(parts) if parts else np.zeros(0, np.int16)

    async def close(self) -> None:
        await self.pc.close()
        for task in self._tasks:
            task.cancel()


async def post_offer(emu, key: str, sdp: str, query: str = "") -> tuple[int, str, dict[str, str]]:
    """The browser's fetch: the raw SDP offer as `application/sdp`, bearer the ephemeral key."""
    url = f"http://127.0.0.1:{emu.port}/openai/v1/realtime/calls{query}"
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/sdp"}
    async with aiohttp.ClientSession() as http, http.post(url, data=sdp, headers=headers) as r:
        return r.status, await r.text(), dict(r.headers)


def voiced_seconds(samples: np.ndarray, threshold: float = 300.0) -> float:
    """Seconds of 20 ms windows whose RMS passes `threshold` (speech, not silence or comfort noise)."""
    n = len(samples) // FRAME
    if n == 0:
        return 0.0
    windows = samples[: n * FRAME].astype(np.float64).reshape(n, FRAME)
    rms = np.sqrt((windows**2).mean(axis=1))
    return float((rms > threshold).sum()) * FRAME / RATE
