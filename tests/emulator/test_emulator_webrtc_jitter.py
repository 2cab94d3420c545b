"""The emulator's WebRTC receiver plays a caller's packets as soon as they are due and gives up a lost
one after a jitter allowance, as a service's would (NetEq conceals it): aiortc's own audio jitter
buffer held one packet back always, and after the first loss stayed its capacity behind for good."""

from __future__ import annotations

import pytest
from aiortc import RTCPeerConnection
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket

from realtime_widgets.emulator.receive_buffer import ALLOWANCE_S, PlayoutJitterBuffer, tolerate_loss
from realtime_widgets.emulator.voice import speak
from tests.emulator.test_emulator_webrtc import mint
from tests.emulator.webrtc_client import Caller, calls_end

pytestmark = pytest.mark.usefixtures(calls_end.__name__)


def _packet(seq: int) -> RtpPacket:
    packet = RtpPacket(payload_type=111, sequence_number=seq % 65536, timestamp=seq * 960, payload=b"x")
    packet._data = b"x"  # the depayloaded frame, which the receiver sets before the buffer sees it
    return packet


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _buffer(clock: _Clock) -> tuple[PlayoutJitterBuffer, list[tuple[float, int]]]:
    released: list[tuple[float, int]] = []  # (time, timestamp // 960)

    def release(packet: RtpPacket, frame: JitterFrame) -> None:
        released.append((clock.now, frame.timestamp // 960))

    return PlayoutJitterBuffer(release, clock=clock), released


def test_in_order_packets_are_released_as_they_come():
    clock = _Clock()
    buffer, released = _buffer(clock)
    for seq in range(5):
        clock.now = seq * 0.020
        assert buffer.add(_packet(65534 + seq)) == (False, None)  # across the 16-bit wrap too
    assert released == [(seq * 0.020, 65534 + seq) for seq in range(5)]  # none held back


def test_a_lost_packet_costs_at_most_the_allowance_and_nothing_after():
    """Packets 0..39 every 20 ms, 10 lost: 11 waits at most the allowance (+ one packet time, the
    buffer decides when packets come), and 12.. are not delayed at all, unlike aiortc's buffer."""
    clock = _Clock()
    buffer, released = _buffer(clock)
    for seq in range(40):
        clock.now = seq * 0.020
        if seq != 10:
            buffer.add(_packet(seq))
    at = dict((ts, t) for t, ts in released)
    assert 10 not in at and buffer.skipped == 1
    assert at[11] - 11 * 0.020 <= ALLOWANCE_S + 0.020 + 1e-9, at[11]
    assert all(at[seq] == seq * 0.020 for seq in range(14, 40)), released[-5:]
    assert [ts for _, ts in released] == sorted(ts for _, ts in released)

    # aiortc's buffer (the emulator's before, capacity 4): one packet behind, two after the loss, for good.
    old = JitterBuffer(capacity=4, prefetch=0)
    lag = {}  # arriving packet -> how many packets the frame it released is behind it
    for seq in range(40):
        frame = None if seq == 10 else old.add(_packet(seq))[1]
        if frame is not None:
            lag[seq] = seq - frame.timestamp // 960
    assert lag[5] == 1 and min(lag[seq] for seq in range(20, 40)) >= 2, lag


def test_a_reordered_packet_within_the_allowance_plays_in_order():
    clock = _Clock()
    buffer, released = _buffer(clock)
    for t, seq in [(0.00, 0), (0.02, 2), (0.035, 1), (0.06, 3)]:  # 1 is 15 ms behind 2
        clock.now = t
        buffer.add(_packet(seq))
    assert [ts for _, ts in released] == [0, 1, 2, 3] and buffer.skipped == 0
    clock.now = 0.5
    buffer.add(_packet(1))  # a duplicate, or one that came after it was given up
    assert buffer.dropped_late == 1 and len(released) == 4


async def test_the_receiver_gets_the_buffer():
    pc = RTCPeerConnection()
    try:
        receiver = pc.addTransceiver("audio").receiver
        buffer = tolerate_loss(receiver)
        assert receiver._RTCRtpReceiver__jitter_buffer is buffer
    finally:
        await pc.close()


async def test_under_loss_the_input_clock_keeps_the_callers_time(emulator):
    """10 % of the caller's packets lost (and 20 +/- 10 ms of delay): each lost one becomes 20 ms of
    silence, so the VAD's audio_end_ms move exactly as far apart as the two utterances' ends on the
    caller's own clock. Skipping them (as before) made the second end ~20 ms early per lost packet."""
    emulator.faults.network_loss = 0.1
    emulator.faults.network_delay_ms = 20
    emulator.faults.network_jitter_ms = 10
    caller = await Caller.connect(emulator, await mint(emulator))
    try:
        await caller.until("session.created")
        caller.send(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "audio": {"input": {"turn_detection": {"type": "server_vad", "create_response": False}}},
                },
            }
        )
        await caller.until("session.updated")
        speech = speak("What is the weather like today?", "echo").audio
        ends_ms, stopped = [], []
        for _ in range(2):
            start = len(caller.events)
            caller.mic.say(speech)  # the microphone's next frame starts it
            ends_ms.append((caller.mic._pts + len(speech)) / 24)
            stopped.append(
                (await caller.until("input_audio_buffer.speech_stopped", start=start))["audio_end_ms"]
            )
        lost = emulator_lost(emulator)
        assert lost >= 3, lost  # enough loss to tell the two behaviours apart
        drift = (stopped[1] - stopped[0]) - (ends_ms[1] - ends_ms[0])
        assert abs(drift) <= 60, (drift, stopped, ends_ms, lost)
    finally:
        await caller.close()


def emulator_lost(emulator) -> int:
    """Packets the emulator's receive buffer gave up on in the (one) live call."""
    from realtime_widgets.emulator.calls import CALLS_KEY

    (call,) = emulator._runner.app[CALLS_KEY].live.values()
    assert call.receive_buffer is not None
    return call.receive_buffer.skipped
