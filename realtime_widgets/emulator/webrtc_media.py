"""A WebRTC call's media: the model's audio out as a paced track, the caller's track in as PCM.

aiortc encodes and decodes Opus (through PyAV) and resamples between 48 kHz and the session's
24 kHz; this module only paces the output, tracks what was played, and feeds the input on.
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import time
from collections.abc import Awaitable, Callable

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.codecs.base import Encoder
from aiortc.mediastreams import MediaStreamError

from ..protocol import SAMPLE_RATE

FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
OPUS_FRAME_SAMPLES = 48_000 * FRAME_MS // 1000  # RTP's Opus clock is 48 kHz whatever the audio
OPUS_TIME_BASE = fractions.Fraction(1, 48_000)


class PlayoutTrack(MediaStreamTrack):
    """The model's voice, played at real time in 20 ms frames (silence between replies).

    The engine makes audio faster than real time; it waits here, which is the service's "output
    audio buffer". `on_started`/`on_stopped` fire when a response's audio begins to play and when it
    has all played (after `finish`, i.e. after response.done).
    """

    kind = "audio"

    def __init__(
        self,
        on_started: Callable[[str], None],
        on_stopped: Callable[[str], None],
    ) -> None:
        super().__init__()
        self._frames: collections.deque[tuple[str, str, np.ndarray]] = collections.deque()
        self._partial = np.zeros(0, np.int16)
        self._partial_ids: tuple[str, str] | None = None
        self._finished: set[str] = set()
        self._playing: str | None = None  # the response whose audio is playing
        self.played_ms: dict[str, float] = {}  # item id -> ms of its audio played
        self.current_item: str | None = None
        self._on_started = on_started
        self._on_stopped = on_stopped
        self._start = 0.0
        self._pts = 0
        self.encoder: Encoder | None = None  # the call's Opus encoder (see recv)
        self._encoded: collections.deque[av.Packet] = collections.deque()
        # Pacing faults: each stretch of frames sent more than a frame late (the event loop was
        # busy) as (seconds into the call, how late its worst frame was in ms).
        self.stalls: list[tuple[float, float]] = []
        self._stalled = False

    def play(self, response_id: str, item_id: str, samples: np.ndarray) -> None:
        if self._partial_ids != (response_id, item_id):
            self._flush_partial()
            self._partial_ids = (response_id, item_id)
        pending = np.concatenate([self._partial, samples.astype(np.int16, copy=False)])
        whole = len(pending) // FRAME_SAMPLES * FRAME_SAMPLES
        for i in range(0, whole, FRAME_SAMPLES):
            self._frames.append((response_id, item_id, pending[i : i + FRAME_SAMPLES]))
        self._partial = pending[whole:]

    def _flush_partial(self) -> None:
        if self._partial_ids is not None and len(self._partial):
            pad = np.zeros(FRAME_SAMPLES - len(self._partial), np.int16)
            self._frames.append((*self._partial_ids, np.concatenate([self._partial, pad])))
        self._partial = np.zeros(0, np.int16)

    def finish(self, response_id: str) -> None:
        """The response is done: its last partial frame may play, and its end is reported."""
        if self._partial_ids is not None and self._partial_ids[0] == response_id:
            self._flush_partial()
            self._partial_ids = None
        self._finished.add(response_id)

    @property
    def buffered_ms(self) -> float:
        return (len(self._frames) * FRAME_SAMPLES + len(self._partial)) * 1000 / SAMPLE_RATE

    def clear(self) -> tuple[str | None, str | None]:
        """Drop everything not yet played; returns the (response, item) that was playing."""
        playing, item = self._playing, self.current_item
        self._frames.clear()
        self._partial = np.zeros(0, np.int16)
        self._partial_ids = None
        self._playing = None
        self.current_item = None
        return playing, item

    async def recv(self) -> av.AudioFrame | av.Packet:
        """The next 20 ms at its time: Opus encoded here when `encoder` is set (aiortc's sender then
        only packs it; its own encoding runs in a thread pool, and each frame's two thread hops
        were where the pacing lost time on a loaded machine), else a frame for aiortc to encode."""
        while True:
            if self._encoded:
                return self._encoded.popleft()
            frame = await self._next_frame()
            if self.encoder is None:
                return frame
            payloads, timestamp = self.encoder.encode(frame)
            for i, payload in enumerate(payloads):
                packet = av.Packet(payload)
                packet.pts = timestamp + i * OPUS_FRAME_SAMPLES
                packet.time_base = OPUS_TIME_BASE
                self._encoded.append(packet)

    async def _next_frame(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._pts == 0 and self._start == 0.0:
            self._start = time.monotonic()
        else:
            wait = self._start + self._pts / SAMPLE_RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._note_lateness(time.monotonic() - self._start - self._pts / SAMPLE_RATE)
        samples = self._next_samples()
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._pts += FRAME_SAMPLES
        return frame

    def _note_lateness(self, late_s: float) -> None:
        late = late_s * 1000 > FRAME_MS
        if late and not self._stalled:
            self.stalls.append((self._pts / SAMPLE_RATE, late_s * 1000))
        elif late:
            at, worst = self.stalls[-1]
            self.stalls[-1] = (at, max(worst, late_s * 1000))
        self._stalled = late

    def _next_samples(self) -> np.ndarray:
        if self._frames:
            response_id, item_id, samples = self._frames.popleft()
            if self._playing != response_id:
                if self._playing is not None:
                    self._on_stopped(self._playing)
                self._playing = response_id
                self._on_started(response_id)
            self.current_item = item_id
            self.played_ms[item_id] = self.played_ms.get(item_id, 0.0) + FRAME_MS
            return samples
        if self._playing is not None and self._playing in self._finished and not self._partial_ids:
            self._finished.discard(self._playing)
            self._on_stopped(self._playing)
            self._playing = None
            self.current_item = None
        return np.zeros(FRAME_SAMPLES, np.int16)


# A hole in the caller's timestamps longer than this is not a lost packet (the caller paused its
# sender): nothing is made up for it.
MAX_CONCEALED_S = 1.0


async def consume_input(track: MediaStreamTrack, feed: Callable[[np.ndarray], Awaitable[None]]) -> None:
    """The caller's decoded audio (48 kHz) as 24 kHz mono PCM, frame by frame, until the track ends.

    A packet the receive buffer gave up as lost leaves a hole in the frames' timestamps: it is fed
    as silence, so the input buffer's clock stays the caller's (NetEq would conceal it too)."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    expected_pts: int | None = None
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        assert isinstance(frame, av.AudioFrame)
        if frame.pts is not None:
            hole = 0 if expected_pts is None else frame.pts - expected_pts
            if 0 < hole <= MAX_CONCEALED_S * frame.sample_rate:
                await feed(np.zeros(hole * SAMPLE_RATE // frame.sample_rate, np.int16))
            expected_pts = frame.pts + frame.samples
        for out in resampler.resample(frame):
            await feed(out.to_ndarray().reshape(-1).astype(np.int16, copy=False))
