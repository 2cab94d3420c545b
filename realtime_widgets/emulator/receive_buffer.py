"""The emulator's receive-side jitter buffer for a caller's Opus track, as a service's receiver keeps it.

aiortc's audio jitter buffer hands a frame on only when the *next* packet has come (one packet held
back always), releases at most one frame per arriving packet, and waits for its whole capacity when
one is lost: after the first loss the caller's audio stayed that many packets behind for the rest of
the call, and the server VAD heard every later end of speech that much late. A service's receiver
(libwebrtc's NetEq) plays each packet as soon as it is due and conceals one that is later than its
jitter allowance. Here a packet goes to the decoder as soon as every earlier one has; a missing one
is given up once a later packet has waited `allowance_s` (or `max_later` later packets are here),
and everything after it that is here goes on at once. The decoded stream then has a hole in its
timestamps, which `consume_input` fills with silence, so the input buffer's timeline (audio_start_ms,
audio_end_ms) stays the caller's.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_add, uint16_gt

# The network profile's jitter is +/- 20 ms on 20 ms packets, so a reordered packet is at most ~20 ms
# behind the one after it; 40 ms (two packet times) lets it in and bounds what a real loss costs.
ALLOWANCE_S = 0.040
MAX_LATER = 3


class PlayoutJitterBuffer(JitterBuffer):
    """In-order release of a caller's audio packets (one Opus frame each), skipping a lost one after
    `allowance_s`; frames go to `release` (every one of them: `add` returns none, so the receiver's
    own one-frame-per-packet path is unused)."""

    def __init__(
        self,
        release: Callable[[RtpPacket, JitterFrame], None],
        allowance_s: float = ALLOWANCE_S,
        max_later: int = MAX_LATER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(capacity=4)
        self._release = release
        self._allowance_s = allowance_s
        self._max_later = max_later
        self._clock = clock
        self._next: int | None = None  # the sequence number due next
        self._held: dict[int, RtpPacket] = {}
        self._gap_since: float | None = None  # when a packet after a missing one first came
        self.skipped = 0  # packets given up as lost
        self.dropped_late = 0  # packets that came after they were given up

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        seq = packet.sequence_number
        if self._next is None:
            self._next = seq
        if uint16_gt(self._next, seq):
            self.dropped_late += 1  # already concealed: too late to play
            return False, None
        self._held[seq] = packet
        self._drain()
        return False, None

    def _drain(self) -> None:
        assert self._next is not None
        while self._held:
            packet = self._held.pop(self._next, None)
            if packet is not None:
                self._gap_since = None
                self._release(packet, JitterFrame(data=packet._data, timestamp=packet.timestamp))  # type: ignore[attr-defined]
                self._next = uint16_add(self._next, 1)
                continue
            now = self._clock()
            if self._gap_since is None:
                self._gap_since = now
            if now - self._gap_since < self._allowance_s and len(self._held) < self._max_later:
                return
            self.skipped += 1
            self._next = uint16_add(self._next, 1)


def tolerate_loss(receiver: RTCRtpReceiver) -> PlayoutJitterBuffer:
    """Give `receiver` a `PlayoutJitterBuffer`. The seam into aiortc (1.16): the receiver keeps its
    jitter buffer, codecs, timestamp mapper and decoder queue in private attributes and reads them
    per packet; the buffer puts each frame on the decoder queue as the receiver itself would."""
    names = ("jitter_buffer", "codecs", "timestamp_mapper", "decoder_queue")
    private = {name: f"_RTCRtpReceiver__{name}" for name in names}
    missing = [attr for attr in private.values() if not hasattr(receiver, attr)]
    if missing:
        raise RuntimeError(
            f"aiortc's RTCRtpReceiver has no {', '.join(missing)} any more: update tolerate_loss"
        )

    def release(packet: RtpPacket, frame: JitterFrame) -> None:
        codec = getattr(receiver, private["codecs"]).get(packet.payload_type)
        if codec is None:
            return
        frame.timestamp = getattr(receiver, private["timestamp_mapper"]).map(frame.timestamp)
        getattr(receiver, private["decoder_queue"]).put((codec, frame))

    buffer = PlayoutJitterBuffer(release)
    setattr(receiver, private["jitter_buffer"], buffer)
    return buffer
