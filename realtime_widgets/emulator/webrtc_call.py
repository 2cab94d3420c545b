"""One WebRTC call: a peer connection whose data channel, sideband sockets and media tracks are the
transport of an ordinary `RealtimeSession` (the same engine as the WebSocket path).

Events go to the data channel (the short list only, with `webrtcfilter=on`) and to every sideband
WebSocket (all of them); client events from both enter one inbox, in arrival order. The model's
audio plays on `PlayoutTrack`; the caller's track feeds the input buffer as
`input_audio_buffer.append` events, so server VAD, commit and transcription are the WebSocket's own.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from aiohttp import WSMessage, WSMsgType, web
from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.codecs.opus import OpusEncoder

from ..protocol import Protocol
from . import g711, session_config
from .context import Context
from .errors import ServiceError
from .netem import Network, impair_rtp
from .opus_fec import FecOpusEncoder, answer_with_inband_fec, offers_inband_fec, sends_opus
from .realtime import RealtimeSession
from .receive_buffer import PlayoutJitterBuffer, tolerate_loss
from .webrtc_media import FRAME_MS, PlayoutTrack, consume_input
from .wire import AudioSink, announce_expiry, consume, new_id, wire_event

log = logging.getLogger(__name__)

# What `?webrtcfilter=on` lets through to the page: the eleven events Azure's WebRTC how-to lists
# (realtime-audio-webrtc.md, GA section; not `output_audio_buffer.cleared`), so no session config, no
# tool calls or arguments, no rate limits; the sideband socket still sees everything.
WEBRTC_FILTERED_EVENTS = frozenset(
    {
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "output_audio_buffer.started",
        "output_audio_buffer.stopped",
        "conversation.item.input_audio_transcription.completed",
        "conversation.item.added",
        "conversation.item.created",
        "response.output_text.delta",
        "response.output_text.done",
        "response.output_audio_transcript.delta",
        "response.output_audio_transcript.done",
    }
)


class CallWire:
    """The `Transport` of a call (see wire.py)."""

    protocol: Protocol = "ga"

    def __init__(self, ctx: Context, filtered: bool, on_close: Callable[[], None]) -> None:
        self.ctx = ctx
        self.filtered = filtered
        self.inbox: asyncio.Queue[WSMessage | None] = asyncio.Queue()
        self.channel: RTCDataChannel | None = None
        self._backlog: list[str] = []  # events made before the page opened its channel
        self.sidebands: set[web.WebSocketResponse] = set()
        self.track = PlayoutTrack(self._audio_started, self._audio_stopped)
        self.audio_sink: AudioSink | None = self.track
        self.session: RealtimeSession | None = None
        self._on_close = on_close
        self._tasks: set[asyncio.Task] = set()
        self.sent_types: list[str] = []

    # -- out -----------------------------------------------------------------------------------

    async def send(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        data = json.dumps(wire_event(event, "ga"))
        delay = self.ctx.faults.event_delay_ms
        if delay > 0:
            await asyncio.sleep(delay / 1000.0)
        if not self.filtered or kind in WEBRTC_FILTERED_EVENTS:
            self._to_channel(data)
        for ws in list(self.sidebands):
            try:
                await ws.send_str(data)
            except (ConnectionError, RuntimeError):
                self.sidebands.discard(ws)
        self.sent_types.append(kind)
        self.ctx.stats.server_events += 1
        if kind == "response.done":
            self.track.finish(event["response"]["id"])
        elif kind == "input_audio_buffer.speech_started":
            await self._barge_in()

    def _to_channel(self, data: str) -> None:
        channel = self.channel
        if channel is None or channel.readyState != "open":
            self._backlog.append(data)
            return
        if channel.transport.transport.state != "connected":
            return  # the peer left: aiortc's send would fail in a task of its own, unseen
        with contextlib.suppress(Exception):  # a closing channel: the call ends on its own
            channel.send(data)

    def attach_channel(self, channel: RTCDataChannel) -> None:
        """The first data channel the page opens carries the events, whatever its label."""
        if self.channel is not None:
            return
        self.channel = channel
        backlog, self._backlog = self._backlog, []
        for data in backlog:
            channel.send(data)

        @channel.on("message")
        def on_message(message: str | bytes) -> None:
            if isinstance(message, bytes):
                self.inbox.put_nowait(WSMessage(WSMsgType.BINARY, message, None))
            else:
                self.inbox.put_nowait(WSMessage(WSMsgType.TEXT, message, None))

        @channel.on("close")
        def on_close() -> None:
            self.close()

    async def error(self, exc: ServiceError, client_event_id: str | None = None) -> None:
        await self.send({"type": "error", "error": exc.body(client_event_id)})

    async def expire(self, seconds: float) -> None:
        await announce_expiry(self, seconds)
        self.close()

    async def receive(self, busy: Callable[[], bool]) -> WSMessage | None:
        return await self.inbox.get()

    def close(self) -> None:
        self.inbox.put_nowait(None)
        self._on_close()

    # -- output audio buffer (WebRTC-only events) ----------------------------------------------

    def _spawn_send(self, event: dict[str, Any]) -> None:
        task = asyncio.ensure_future(self.send(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(consume)

    def _audio_started(self, response_id: str) -> None:
        self._spawn_send({"type": "output_audio_buffer.started", "response_id": response_id})

    def _audio_stopped(self, response_id: str) -> None:
        self._spawn_send({"type": "output_audio_buffer.stopped", "response_id": response_id})

    async def clear_output(self, event: dict[str, Any] | None = None) -> None:
        """`output_audio_buffer.clear`, or the user barging in: the unplayed audio is dropped, the
        response cancelled, and the item truncated at what was played."""
        session = self.session
        assert session is not None
        reason = "client_cancelled" if event is not None else "turn_detected"
        await session.responses.stop(reason)
        response_id, item_id = self.track.clear()
        if response_id is None:
            return
        await self.send({"type": "output_audio_buffer.cleared", "response_id": response_id})
        if item_id is not None:
            played = int(self.track.played_ms.get(item_id, 0.0))
            with contextlib.suppress(ServiceError):
                await session.on_item_truncate(
                    {"item_id": item_id, "content_index": 0, "audio_end_ms": played}
                )

    async def _barge_in(self) -> None:
        session = self.session
        if session is None:
            return
        td = session_config.turn_detection("ga", session.session) or {}
        if td.get("interrupt_response", True):
            await self.clear_output()


# A call whose peer never connects (ICE failed, the page went away) is given up after this long.
CONNECT_TIMEOUT_S = 20.0


class Call:
    """A peer connection and the session it carries; `answer` runs the SDP exchange."""

    def __init__(self, ctx: Context, request: web.Request, deployment: str, filtered: bool) -> None:
        self.id = new_id("rtc")
        self.ctx = ctx
        self.pc = RTCPeerConnection()
        self.network = Network(ctx.faults)
        self.wire = CallWire(ctx, filtered, self._closed)
        self.session = RealtimeSession(None, request, "ga", deployment, ctx, wire=self.wire)
        self.wire.session = self.session
        self.session.handlers["output_audio_buffer.clear"] = self.wire.clear_output
        self.task: asyncio.Task | None = None
        self._input: asyncio.Task | None = None
        self._ended = False
        self._watchdog: asyncio.Task | None = None
        self.receive_buffer: PlayoutJitterBuffer | None = None
        self.on_end: Callable[[Call], None] | None = None

        @self.pc.on("datachannel")
        def on_datachannel(channel: RTCDataChannel) -> None:
            self.wire.attach_channel(channel)

        @self.pc.on("track")
        def on_track(track: Any) -> None:
            if track.kind == "audio" and self._input is None:
                self._input = asyncio.ensure_future(consume_input(track, self._feed))
                self._input.add_done_callback(consume)

        @self.pc.on("connectionstatechange")
        async def on_state() -> None:
            if self.pc.connectionState in ("failed", "closed"):
                self.wire.close()

    def configure(self, patch: dict[str, Any]) -> None:
        """The session config the client secret (or the SDK's multipart body) carried."""
        fields = {k: v for k, v in patch.items() if k != "model"}
        if set(fields) - {"type"}:
            self.session.session = session_config.apply_update(
                "ga", self.session.session, {"type": "realtime", **fields}
            )
            self.session.input.configure()

    async def answer(self, offer_sdp: str) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        fec = offers_inband_fec(offer_sdp)
        for transceiver in self.pc.getTransceivers():
            if transceiver.kind == "audio":
                transceiver.sender.replaceTrack(self.wire.track)
                transceiver.direction = "sendrecv"
                self.receive_buffer = tolerate_loss(transceiver.receiver)
        answer = await self.pc.createAnswer()
        if sends_opus(answer.sdp):  # else aiortc encodes (G.711) as it would
            # FEC: expect the network profile's loss, as libwebrtc learns it from RTCP.
            self.wire.track.encoder = FecOpusEncoder(self.ctx.faults.network_loss) if fec else OpusEncoder()
        if fec:
            answer = RTCSessionDescription(sdp=answer_with_inband_fec(answer.sdp), type="answer")
        await self.pc.setLocalDescription(answer)
        for transceiver in self.pc.getTransceivers():
            impair_rtp(transceiver.sender.transport, self.network)
        self.task = asyncio.ensure_future(self.session.run())
        self.task.add_done_callback(consume)
        self._watchdog = asyncio.ensure_future(self._give_up_unless_connected())
        self._watchdog.add_done_callback(consume)
        return self.pc.localDescription.sdp

    async def _give_up_unless_connected(self) -> None:
        await asyncio.sleep(CONNECT_TIMEOUT_S)
        if self.pc.connectionState != "connected":
            log.info("emulator: WebRTC call %s never connected in %g s; closed", self.id, CONNECT_TIMEOUT_S)
            self.wire.close()

    async def _feed(self, samples: np.ndarray) -> None:
        fmt = self.session.audio_format("input")
        data = samples.tobytes() if fmt == "pcm16" else g711.encode(samples, fmt[5:])
        event = {"type": "input_audio_buffer.append", "audio": base64.b64encode(data).decode()}
        await self.wire.inbox.put(WSMessage(WSMsgType.TEXT, json.dumps(event), None))

    def _closed(self) -> None:
        if self._ended:
            return
        self._ended = True
        if self.on_end is not None:
            self.on_end(self)
        asyncio.ensure_future(self.close())

    async def close(self) -> None:
        self._ended = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self._input is not None:
            self._input.cancel()
        track = self.wire.track
        track.stop()
        if track.stalls:
            worst = sorted(track.stalls, key=lambda stall: -stall[1])[:5]
            log.warning(
                "emulator: WebRTC call %s paused its audio %d times over %d ms; worst (s in, ms): %s",
                self.id,
                len(track.stalls),
                FRAME_MS,
                ", ".join(f"{at:.1f}: {ms:.0f}" for at, ms in worst),
            )
        for ws in list(self.wire.sidebands):
            with contextlib.suppress(Exception):
                await ws.close(message=b"The WebRTC call ended.")
        await self.pc.close()
        self.wire.inbox.put_nowait(None)
        if self.task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self.task), 2.0)
