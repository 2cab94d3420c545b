"""A stand-in for the WebRTCCall page, without a browser: an aiortc caller (tests/emulator/webrtc_client.py)
dialled with the kernel's ephemeral key, whose two tracks are tapped in 100 ms chunks of PCM16 24 kHz
and handed to `session.tap_audio`, as the page's AudioWorklet taps are."""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from aiortc import RTCSessionDescription

from realtime_widgets import ClientSecret, RealtimeSession
from tests.emulator.webrtc_client import Caller, post_offer

CHUNK = 2400 * 2  # 100 ms at 24 kHz


class TappedTrack:
    """Samples in order, cut into 100 ms chunks; chunks wait until a session takes them. With a
    `thread`, they are handed over from that thread (comm handlers may run off the loop)."""

    def __init__(self, side: str, thread: ThreadPoolExecutor | None = None) -> None:
        self.side = side
        self.thread = thread
        self.pending = np.zeros(0, np.int16)
        self.sent = 0  # samples handed over (the `at` of the next chunk)
        self.chunks: list[tuple[np.ndarray, float]] = []
        self.session: RealtimeSession | None = None

    def add(self, samples: np.ndarray) -> None:
        self.pending = np.concatenate([self.pending, samples.astype(np.int16)])
        while len(self.pending) >= CHUNK:
            chunk, self.pending = self.pending[:CHUNK], self.pending[CHUNK:]
            self.chunks.append((chunk, self.sent / 24000))
            self.sent += CHUNK
        self.flush()

    def flush(self) -> None:
        if self.session is None:
            return
        for chunk, at in self.chunks:
            if self.thread is None:
                self.session.tap_audio(self.side, chunk, at)  # type: ignore[arg-type]
            else:
                self.thread.submit(self.session.tap_audio, self.side, chunk, at)
        self.chunks.clear()


class Page:
    """`await Page.dial(emulator, secret)`; then `page.attach(session)` routes its taps to the kernel."""

    def __init__(self, caller: Caller, threaded: bool = False) -> None:
        self.caller = caller
        self.thread = ThreadPoolExecutor(1, "page-taps") if threaded else None  # one thread: in order
        self.mic = TappedTrack("input", self.thread)
        self.speaker = TappedTrack("output", self.thread)
        self.spoken: list[np.ndarray] = []  # the microphone as sent, 20 ms frames in order
        self._heard_index = 0
        self._poll: asyncio.Task[Any] | None = None

    @classmethod
    async def dial(cls, emulator: Any, secret: ClientSecret, *, threaded: bool = False) -> Page:
        caller = Caller("realtime-channel")
        page = cls(caller, threaded)
        send_frame = caller.mic.recv

        async def tapped_recv() -> Any:  # the page taps its own microphone track
            frame = await send_frame()
            samples = frame.to_ndarray().reshape(-1).copy()
            page.spoken.append(samples)
            page.mic.add(samples)
            return frame

        caller.mic.recv = tapped_recv  # type: ignore[method-assign]
        await caller.pc.setLocalDescription(await caller.pc.createOffer())
        query = secret.calls_url.partition("?")[2]
        status, text, headers = await post_offer(
            emulator, secret.value, caller.pc.localDescription.sdp, "?" + query if query else ""
        )
        assert status == 201, (status, text)
        caller.location = headers["Location"]
        await caller.pc.setRemoteDescription(RTCSessionDescription(sdp=text, type="answer"))
        await asyncio.wait_for(caller.opened.wait(), 10)
        page._poll = asyncio.ensure_future(page._tap_speaker())
        return page

    async def _tap_speaker(self) -> None:
        """The page taps the model's remote track as it plays."""
        while True:
            heard = self.caller.heard
            while self._heard_index < len(heard):
                self.speaker.add(heard[self._heard_index][1])
                self._heard_index += 1
            await asyncio.sleep(0.02)

    @property
    def call_id(self) -> str:
        return self.caller.call_id

    def attach(self, session: RealtimeSession) -> None:
        self.mic.session = self.speaker.session = session
        self.mic.flush()
        self.speaker.flush()

    def say(self, samples: np.ndarray) -> None:
        self.caller.mic.say(samples)

    async def hang_up(self) -> None:
        if self._poll is not None:
            self._poll.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poll
        await self.caller.close()
        if self.thread is not None:
            self.thread.shutdown()
