"""The network impairment profile (faults.network_delay_ms / _jitter_ms / _loss), measured from a client:
WebRTC drops and delays RTP packets; a WebSocket delays frames and holds later ones behind a lost one."""

from __future__ import annotations

import asyncio
import base64
import random
import statistics
import time

import pytest

from realtime_widgets.emulator import Faults
from realtime_widgets.emulator.netem import Network, OrderedLink, tcp_segments
from tests.emulator.emu_helpers import ga_url, raw_connect
from tests.emulator.test_emulator_webrtc import mint
from tests.emulator.webrtc_client import Caller


async def _round_trip(raw, marker: str) -> float:
    t0 = time.monotonic()
    await raw.send({"type": "conversation.item.retrieve", "item_id": marker})
    ev = await raw.recv()
    assert ev["type"] == "error" and marker in ev["error"]["message"]
    return time.monotonic() - t0


async def test_websocket_frames_are_delayed_by_the_profile(emulator):
    raw = await raw_connect(ga_url(emulator))
    try:
        base = statistics.median([await _round_trip(raw, f"base-{i}") for i in range(6)])
        emulator.faults.network_delay_ms = 150
        slow = statistics.median([await _round_trip(raw, f"slow-{i}") for i in range(6)])
        assert 0.2 <= slow - base <= 0.7, (base, slow)  # both ways: the request and its answer
    finally:
        await raw.ws.close()


async def test_websocket_loss_is_a_retransmission_that_holds_later_frames(emulator):
    """TCP's head-of-line blocking: frames stay in order; a lost one waits an RTO (>= 200 ms) and the
    frames behind it arrive together right after it."""
    raw = await raw_connect(ga_url(emulator))
    try:
        emulator.faults.network_loss = 0.3
        n = 30
        for i in range(n):
            await raw.send({"type": "conversation.item.retrieve", "item_id": f"hol-{i:02d}"})
        arrivals, order = [], []
        for _ in range(n):
            ev = await raw.recv(timeout=10)
            arrivals.append(time.monotonic())
            order.append(ev["error"]["message"].split("'")[1])
        assert order == [f"hol-{i:02d}" for i in range(n)]  # never reordered
        gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
        assert max(gaps) >= 0.15, gaps  # a retransmission timeout
        burst = max(range(len(gaps)), key=gaps.__getitem__)
        # Every frame sent during the stall was held, so several arrive at once after it.
        assert sum(1 for g in gaps[burst + 1 : burst + 4] if g < 0.02) >= 2 or burst >= n - 4, gaps
    finally:
        await raw.ws.close()


async def _text_turn(emulator) -> tuple[float, int, int]:
    """One reply on a fresh call: (first voiced audio after output_audio_buffer.started, RTP lost, received)."""
    caller = await Caller.connect(emulator, await mint(emulator))
    try:
        await caller.until("session.created")
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello there"}]}
        caller.send({"type": "conversation.item.create", "item": item})
        caller.send({"type": "response.create"})
        await caller.until("output_audio_buffer.started")
        started = time.monotonic()  # the data channel (SCTP) is not impaired: a clean reference
        await caller.until("output_audio_buffer.stopped", timeout=30)
        await asyncio.sleep(0.6)
        first = next(t for t, s in caller.heard if t >= started - 0.5 and abs(s.astype(float)).max() > 1000)
        inbound = [s for s in (await caller.pc.getStats()).values() if s.type == "inbound-rtp"][0]
        return first - started, inbound.packetsLost, inbound.packetsReceived
    finally:
        await caller.close()


async def test_webrtc_rtp_packets_are_delayed_and_dropped(emulator):
    base_delay, base_lost, _ = await _text_turn(emulator)
    assert base_lost == 0
    emulator.faults.network_delay_ms = 250
    slow_delay, _, _ = await _text_turn(emulator)
    assert 0.15 <= slow_delay - base_delay <= 0.6, (base_delay, slow_delay)
    emulator.faults.network_delay_ms = 0
    emulator.faults.network_loss = 0.2
    _, lost, received = await _text_turn(emulator)
    assert 0.08 <= lost / (lost + received) <= 0.35, (lost, received)


def test_websocket_loss_is_per_tcp_segment_not_per_frame():
    """A 100 ms PCM16 chunk in base64 (~6.4 kB, 5 segments) is held ~5 times as often as a short event
    (1 segment); splitting it into 20 ms frames leaves the audio's share of held segments the same."""
    assert [tcp_segments(n) for n in (0, 1, 1448, 1449, 6400)] == [1, 1, 1, 2, 5]

    def held(size: int, frames: int = 4000) -> float:
        network = Network(Faults(network_loss=0.05), random.Random(7))
        return sum(network.lost(tcp_segments(size)) for _ in range(frames)) / frames

    chunk = len(base64.b64encode(bytes(4800))) + 60  # 100 ms of 24 kHz PCM16 in an append event
    assert 0.03 <= held(300) <= 0.07, held(300)
    assert 0.18 <= held(chunk) <= 0.28, held(chunk)  # 1 - 0.95**5 = 0.23


async def test_the_ordered_link_draws_loss_for_each_segment_of_a_frame():
    class Counting(Network):
        def __init__(self) -> None:
            super().__init__(Faults(network_delay_ms=1))
            self.asked: list[int] = []

        def lost(self, packets: int = 1) -> bool:
            self.asked.append(packets)
            return super().lost(packets)

    network, delivered = Counting(), []

    async def deliver(frame: object) -> None:
        delivered.append(frame)

    link = OrderedLink(network, deliver)
    link.send("x" * 100)
    link.send("y" * 5000)
    link.send(b"z" * 3000)
    await asyncio.sleep(0.1)
    link.close()
    assert network.asked == [1, 4, 3] and len(delivered) == 3


def test_the_profile_is_checked():
    with pytest.raises(ValueError, match="network_loss"):
        Faults(network_loss=1.5)
    with pytest.raises(ValueError, match="network_delay_ms"):
        Faults(network_delay_ms=-1)
