"""The emulator's WebRTC receiver goes on after a lost packet, as a service's would (NetEq conceals it):
aiortc's default audio jitter buffer held the caller's audio ~320 ms per lost packet."""

from __future__ import annotations

from aiortc import RTCPeerConnection
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket

from realtime_widgets.emulator.webrtc_media import tolerate_loss


def _packet(seq: int) -> RtpPacket:
    packet = RtpPacket(payload_type=111, sequence_number=seq, timestamp=seq * 960, payload=b"x")
    packet._data = b"x"  # the depayloaded frame, which the receiver sets before the buffer sees it
    return packet


def _released_after_a_loss(buffer: JitterBuffer) -> int | None:
    """Packets 0..39 of 20 ms with packet 10 lost: how many packets after the loss until packet 11's
    frame comes out (None: never, within the 40)."""
    for seq in range(40):
        if seq == 10:
            continue
        _, frame = buffer.add(_packet(seq))
        if frame is not None and frame.timestamp >= 11 * 960:
            return seq - 10
    return None


async def test_a_lost_packet_holds_the_callers_audio_at_most_three_packets():
    pc = RTCPeerConnection()
    try:
        receiver = pc.addTransceiver("audio").receiver
        tolerate_loss(receiver)
        ours = receiver._RTCRtpReceiver__jitter_buffer
        released = _released_after_a_loss(ours)
        assert released is not None and released <= 4, released
    finally:
        await pc.close()
    aiortc_default = _released_after_a_loss(JitterBuffer(capacity=16, prefetch=4))
    assert aiortc_default is None or aiortc_default > 10, aiortc_default


def test_in_order_packets_come_out_at_once():
    buffer = JitterBuffer(capacity=4, prefetch=0)
    out = [buffer.add(_packet(s))[1] for s in range(5)]
    # A frame is released when the next one begins (aiortc's rule): no prefetch beyond that.
    assert [f.timestamp for f in out if f is not None] == [0, 960, 1920, 2880]
