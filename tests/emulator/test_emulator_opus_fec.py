"""Opus in-band FEC from the emulator's WebRTC sender (emulator/opus_fec.py): the packets carry a
copy of the previous frame that libopus really decodes in place of a lost one, and a call whose
offer says `useinbandfec=1` (as Chromium's does) is answered and sent that way."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import fractions
from collections.abc import Iterator

import av
import numpy as np
import pytest
from aiortc import RTCSessionDescription
from aiortc.codecs.opus import OpusEncoder
from aiortc.sdp import SessionDescription

from realtime_widgets.emulator.calls import CALLS_KEY
from realtime_widgets.emulator.opus_fec import (
    FecOpusEncoder,
    offers_inband_fec,
    packet_loss_percent,
)
from realtime_widgets.emulator.voice import synthesize
from tests.emulator.test_emulator_webrtc import mint
from tests.emulator.webrtc_client import Caller, calls_end, post_offer

pytestmark = pytest.mark.usefixtures(calls_end.__name__)

RATE = 48_000
FRAME = 960  # 20 ms, aiortc's Opus frame


def _frames(pcm: np.ndarray) -> Iterator[av.AudioFrame]:
    for start in range(0, len(pcm) // FRAME * FRAME, FRAME):
        frame = av.AudioFrame.from_ndarray(
            pcm[start : start + FRAME].reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = RATE
        frame.pts = start
        frame.time_base = fractions.Fraction(1, RATE)
        yield frame


def _encode(encoder: OpusEncoder, pcm: np.ndarray) -> list[bytes]:
    packets: list[bytes] = []
    for frame in _frames(pcm):
        packets += encoder.encode(frame)[0]
    return packets


class _Libopus:
    """libopus's own decoder (PyAV's does not expose FEC decoding): `opus_decode(..., decode_fec=1)`
    on the packet after a lost one decodes the lost frame from its LBRR data, or conceals it (PLC)
    when there is none."""

    def __init__(self) -> None:
        path = ctypes.util.find_library("opus")
        if path is None:
            pytest.skip("libopus (Debian's libopus0) is not installed")
        self.lib = ctypes.CDLL(path)
        self.lib.opus_decoder_create.restype = ctypes.c_void_p
        self.lib.opus_decoder_destroy.argtypes = [ctypes.c_void_p]
        self.lib.opus_decode.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_int32,
            ctypes.POINTER(ctypes.c_int16),
            ctypes.c_int,
            ctypes.c_int,
        ]

    def decode(self, packets: list[bytes], lost: set[int], use_fec: bool) -> np.ndarray:
        error = ctypes.c_int()
        decoder = self.lib.opus_decoder_create(RATE, 1, ctypes.byref(error))
        assert error.value == 0 and decoder
        out = (ctypes.c_int16 * FRAME)()
        frames = []
        try:
            for i, packet in enumerate(packets):
                if i not in lost:
                    n = self.lib.opus_decode(decoder, packet, len(packet), out, FRAME, 0)
                elif use_fec:
                    following = packets[i + 1]
                    n = self.lib.opus_decode(decoder, following, len(following), out, FRAME, 1)
                else:
                    n = self.lib.opus_decode(decoder, None, 0, out, FRAME, 0)
                assert n == FRAME, n
                frames.append(np.frombuffer(out, np.int16).astype(np.float64))
        finally:
            self.lib.opus_decoder_destroy(decoder)
        return np.concatenate(frames)


def _snr_of_lost_frames(packets: list[bytes], lost: set[int], use_fec: bool, opus: _Libopus) -> float:
    """dB: the lost frames as decoded (FEC or PLC) against the same frames received."""
    received = opus.decode(packets, set(), use_fec=False)
    repaired = opus.decode(packets, lost, use_fec)
    signal = noise = 0.0
    for i in lost:
        part = slice(i * FRAME, (i + 1) * FRAME)
        signal += float(np.sum(received[part] ** 2))
        noise += float(np.sum((repaired[part] - received[part]) ** 2))
    return 10 * np.log10(signal / max(noise, 1.0))


def test_a_lost_packet_is_recovered_from_the_next_ones_fec_and_not_without_it():
    """A 3 s eSpeak reply, one packet in seven lost inside it: with the emulator's encoder, libopus
    rebuilds the lost frames from the following packets (tens of dB better than concealment); with
    aiortc's own encoder (CELT at 96 kbit/s, no LBRR) "FEC decoding" is only concealment again."""
    pcm = synthesize("It is noon. The weather today is sunny with a light breeze.", rate=RATE)
    opus = _Libopus()
    with_fec = _encode(FecOpusEncoder(expected_loss=0.02), pcm)
    without = _encode(OpusEncoder(), pcm)
    lost = set(range(10, len(with_fec) - 1, 7))
    fec_gain = _snr_of_lost_frames(with_fec, lost, True, opus) - _snr_of_lost_frames(
        with_fec, lost, False, opus
    )
    stock_gain = _snr_of_lost_frames(without, lost, True, opus) - _snr_of_lost_frames(
        without, lost, False, opus
    )
    assert fec_gain > 8.0, fec_gain  # measured ~15 dB (libopus 1.3.1)
    assert abs(stock_gain) < 0.5, stock_gain
    # Packets of SILK or hybrid mode (TOC config < 16): the only modes that carry LBRR.
    assert all(packet[0] >> 3 < 16 for packet in with_fec[5:]), sorted({p[0] >> 3 for p in with_fec})


def test_the_expected_loss_is_whole_percent_rounded_up():
    assert [packet_loss_percent(x) for x in (0.0, 0.001, 0.02, 0.1, 0.999)] == [0, 1, 2, 10, 100]
    with pytest.raises(ValueError, match="expected_loss"):
        packet_loss_percent(1.0)


def _with_inband_fec(offer_sdp: str) -> str:
    """The offer as Chromium makes it in this respect: `a=fmtp:<opus> useinbandfec=1`."""
    description = SessionDescription.parse(offer_sdp)
    for media in description.media:
        for codec in media.rtp.codecs:
            if codec.mimeType.lower() == "audio/opus":
                codec.parameters["useinbandfec"] = 1
    return str(description)


def _audio_encoder(emulator, call_id: str) -> object:
    call = emulator._runner.app[CALLS_KEY].live[call_id]
    return call.wire.track.encoder  # the call's track encodes; aiortc's sender only packs


@pytest.mark.parametrize("asks_for_fec", [True, False])
async def test_a_call_is_answered_and_sent_with_fec_when_the_offer_asks(emulator, asks_for_fec):
    emulator.faults.network_loss = 0.02
    caller = Caller("oai-events")
    try:
        await caller.pc.setLocalDescription(await caller.pc.createOffer())
        offer = caller.pc.localDescription.sdp
        if asks_for_fec:
            offer = _with_inband_fec(offer)
        assert offers_inband_fec(offer) is asks_for_fec
        status, answer, headers = await post_offer(emulator, await mint(emulator), offer)
        assert status == 201, answer
        opus_fmtp = [line for line in answer.splitlines() if "useinbandfec" in line]
        assert bool(opus_fmtp) is asks_for_fec, answer
        await caller.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await asyncio.wait_for(caller.opened.wait(), 10)
        call_id = headers["Location"].rsplit("/", 1)[-1]
        for _ in range(100):  # the emulator's Opus decodes on the caller's side (silence plays)
            if len(caller.heard) >= 5:
                break
            await asyncio.sleep(0.05)
        assert len(caller.heard) >= 5
        encoder = _audio_encoder(emulator, call_id)
        if asks_for_fec:
            assert type(encoder) is FecOpusEncoder and encoder.packet_loss_percent == 2
        else:
            assert type(encoder) is OpusEncoder  # aiortc's own
    finally:
        await caller.close()
