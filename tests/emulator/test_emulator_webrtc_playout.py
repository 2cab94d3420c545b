"""The emulator's WebRTC output track: real-time pacing on the monotonic clock, Opus encoded in the
track (not in aiortc's thread pool), and a record of every pause a busy event loop caused."""

from __future__ import annotations

import time

import av
import numpy as np
from aiortc.codecs.opus import OpusDecoder, OpusEncoder
from aiortc.jitterbuffer import JitterFrame

from realtime_widgets.emulator.webrtc_media import FRAME_MS, OPUS_FRAME_SAMPLES, PlayoutTrack


def _track() -> PlayoutTrack:
    return PlayoutTrack(lambda response_id: None, lambda response_id: None)


async def test_the_track_sends_opus_packets_at_real_time_on_48_khz_timestamps():
    track = _track()
    track.encoder = OpusEncoder()
    tone = (8000 * np.sin(np.arange(24000) * 2 * np.pi * 440 / 24000)).astype(np.int16)
    track.play("resp_1", "item_1", tone)
    decoder = OpusDecoder()
    started = time.monotonic()
    packets = [await track.recv() for _ in range(25)]
    elapsed = time.monotonic() - started
    assert all(isinstance(p, av.Packet) for p in packets)
    steps = {b.pts - a.pts for a, b in zip(packets, packets[1:], strict=False)}
    assert steps == {OPUS_FRAME_SAMPLES}, steps
    # 25 frames of 20 ms, the first at once: ~480 ms, never sooner (margin for a busy machine later).
    assert 0.45 <= elapsed <= 2.0, elapsed
    decoded = np.concatenate(
        [f.to_ndarray().reshape(-1) for p in packets for f in decoder.decode(JitterFrame(bytes(p), p.pts))]
    )
    assert np.abs(decoded.astype(np.float64)).max() > 2000  # the tone, not silence
    assert track.stalls == []
    track.stop()


async def test_a_busy_loop_is_recorded_as_a_pause():
    track = _track()
    await track.recv()
    await track.recv()
    time.sleep(0.15)  # the event loop held by something else: the next frames are late
    for _ in range(3):
        await track.recv()
    assert len(track.stalls) == 1
    at_s, worst_ms = track.stalls[0]
    assert at_s == 2 * FRAME_MS / 1000 and worst_ms >= 100, track.stalls
    track.stop()
