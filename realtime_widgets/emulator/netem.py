"""The network impairment profile (delay, jitter, loss) as each transport meets it.

The machine has no netem qdisc, so the emulator impairs its own traffic (docs/emulator-fidelity.md):
- WebRTC (UDP): each RTP packet, sent or received, is dropped with probability `loss`, else delayed
  by `delay +/- jitter` on its own; packets may arrive out of order, as on a real path. The
  receiver's jitter buffer and Opus concealment deal with it.
- WebSocket (TCP): each frame is delayed by `delay +/- jitter`. Loss is per TCP segment (a frame of
  n bytes is ceil(n / 1448) segments, each lost with probability `loss`), not per frame: a 100 ms
  PCM chunk in base64 is ~5 segments, so it is held ~5 times as often as a short event, and cutting
  the audio into smaller frames does not change how much of it is held. A frame with a lost segment
  arrives after a retransmission timeout, and no later frame is delivered before it (head-of-line
  blocking).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from typing import Any

from .faults import Faults

# Linux's minimum TCP retransmission timeout (TCP_RTO_MIN); RTO = max(this, SRTT + 4 * RTTVAR).
TCP_RTO_MIN_S = 0.2
# A TCP segment's payload on a 1500-byte MTU path (IPv4 20 + TCP 20 + timestamps option 12 bytes).
TCP_MSS = 1448


def tcp_segments(size: int) -> int:
    """How many TCP segments a WebSocket frame of `size` payload bytes takes (its header is ignored)."""
    return max(1, -(-size // TCP_MSS))


class Network:
    """One packet's fate under the current fault settings (read at each packet: settable live)."""

    def __init__(self, faults: Faults, rng: random.Random | None = None) -> None:
        self.faults = faults
        self.rng = rng or random.Random()
        self.lost_packets = 0
        self.packets = 0

    def delay_s(self) -> float:
        f = self.faults
        jitter = self.rng.uniform(-f.network_jitter_ms, f.network_jitter_ms) if f.network_jitter_ms else 0.0
        return max(0.0, f.network_delay_ms + jitter) / 1000.0

    def lost(self, packets: int = 1) -> bool:
        """Whether any of `packets` packets (an RTP packet, or a frame's TCP segments) is lost."""
        self.packets += packets
        loss = self.faults.network_loss
        lost = sum(self.rng.random() < loss for _ in range(packets)) if loss else 0
        self.lost_packets += lost
        return lost > 0

    def retransmission_timeout_s(self) -> float:
        f = self.faults
        rtt_s = 2 * f.network_delay_ms / 1000.0
        return max(TCP_RTO_MIN_S, rtt_s + 4 * 2 * f.network_jitter_ms / 1000.0)


class OrderedLink:
    """A TCP-like stream of frames: sent in order, each at its due time, never before an earlier one.

    `send` returns at once; a pump task delivers the frames. Used only while the profile is set.
    """

    def __init__(
        self,
        network: Network,
        deliver: Callable[[Any], Awaitable[None]],
        is_last: Callable[[Any], bool] = lambda frame: False,
    ) -> None:
        self.network = network
        self._is_last = is_last
        self._deliver = deliver
        self._queue: asyncio.Queue[tuple[float, Any]] = asyncio.Queue()
        self._last_due = 0.0
        self._pump: asyncio.Task | None = None
        self.failure: BaseException | None = None

    def send(self, frame: Any) -> None:
        loop = asyncio.get_running_loop()
        wait = self.network.delay_s()
        if self.network.lost(tcp_segments(_wire_size(frame))):
            wait += self.network.retransmission_timeout_s()
        due = max(self._last_due, loop.time() + wait)
        self._last_due = due
        self._queue.put_nowait((due, frame))
        if self._pump is None:
            self._pump = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, frame = await self._queue.get()
            await asyncio.sleep(max(0.0, due - loop.time()))
            try:
                await self._deliver(frame)
            except Exception as exc:  # the peer left: later frames have nowhere to go
                self.failure = exc
                return
            if self._is_last(frame):
                return

    def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()


def impair_rtp(dtls: Any, network: Network) -> None:
    """Drop and delay the RTP packets one aiortc DTLS transport sends and receives (not RTCP, not
    the data channel's SCTP, which retransmits on its own)."""
    send_rtp = dtls._send_rtp
    handle_rtp = dtls._handle_rtp_data
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task] = set()

    def later(coro_fn: Callable[[], Awaitable[None]]) -> None:
        def start() -> None:
            task = asyncio.ensure_future(coro_fn())
            pending.add(task)
            task.add_done_callback(pending.discard)
            task.add_done_callback(_quiet)

        loop.call_later(network.delay_s(), start)

    async def send(data: bytes) -> None:
        if not network.faults.network_impaired or _is_rtcp(data):
            await send_rtp(data)
        elif not network.lost():
            later(lambda: send_rtp(data))

    async def receive(data: bytes, arrival_time_ms: int) -> None:
        if not network.faults.network_impaired:
            await handle_rtp(data, arrival_time_ms)
        elif not network.lost():
            delay_ms = int(network.delay_s() * 1000)
            later(lambda: handle_rtp(data, arrival_time_ms + delay_ms))

    dtls._send_rtp = send
    dtls._handle_rtp_data = receive


def _wire_size(frame: Any) -> int:
    """A frame's payload bytes: a str (JSON, ASCII), bytes, or an aiohttp `WSMessage` of either."""
    data = getattr(frame, "data", frame)
    return len(data) if isinstance(data, str | bytes | bytearray) else 0


def _is_rtcp(data: bytes) -> bool:
    return len(data) >= 2 and 192 <= data[1] <= 208


def _quiet(task: asyncio.Task) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        task.exception()  # a closed transport is an expected end
