"""Opus in-band FEC on the emulator's WebRTC sender, as a libwebrtc-like service sends it.

Chromium's offer says `useinbandfec=1` (it can decode FEC). aiortc's `OpusEncoder` opens libopus
with `application=voip` only: no LBRR data, so every lost packet becomes a concealment. Here the
call's audio track (`PlayoutTrack.encoder`) encodes with `fec=1` and `packet_loss` set to the loss it should expect,
and the answer says `useinbandfec=1` as libwebrtc's does. libopus adds LBRR (a low-bitrate copy of
the previous frame) only in SILK/hybrid mode and only when `packet_loss` > 0, which is why the
expected loss matters: with none (loopback) the encoder behaves as aiortc's.
"""

from __future__ import annotations

import math

from aiortc.codecs import CODECS
from aiortc.codecs.opus import OpusEncoder
from aiortc.sdp import SessionDescription


class FecOpusEncoder(OpusEncoder):
    """aiortc's Opus encoder (48 kHz stereo, 96 kbit/s, 20 ms) with libopus in-band FEC."""

    def __init__(self, expected_loss: float) -> None:
        super().__init__()
        self.packet_loss_percent = packet_loss_percent(expected_loss)
        self.codec.options = {
            "application": "voip",
            "fec": "1",
            "packet_loss": str(self.packet_loss_percent),
        }


def packet_loss_percent(expected_loss: float) -> int:
    """libopus's `packet_loss` (0-100, whole percent) for a loss fraction, rounded up so any loss
    turns FEC on."""
    if not 0 <= expected_loss < 1:
        raise ValueError(f"expected_loss is a fraction in [0, 1), got {expected_loss!r}")
    return min(100, math.ceil(expected_loss * 100))


def offers_inband_fec(offer_sdp: str) -> bool:
    """Whether the peer's offer asks for Opus in-band FEC (`a=fmtp:<pt> ...;useinbandfec=1`) on the
    codec the answer will send with: the offer's first audio codec aiortc supports (answers keep
    the offer's order)."""
    supported = {codec.mimeType.lower() for codec in CODECS["audio"]}
    for media in SessionDescription.parse(offer_sdp).media:
        if media.kind != "audio":
            continue
        for codec in media.rtp.codecs:
            if codec.mimeType.lower() in supported:
                return (
                    codec.mimeType.lower() == "audio/opus"
                    and str(codec.parameters.get("useinbandfec")) == "1"
                )
    return False


def answer_with_inband_fec(answer_sdp: str) -> str:
    """The answer with `useinbandfec=1` on its Opus codec (aiortc's answer has no Opus fmtp)."""
    description = SessionDescription.parse(answer_sdp)
    for media in description.media:
        for codec in media.rtp.codecs if media.kind == "audio" else []:
            if codec.mimeType.lower() == "audio/opus":
                codec.parameters["useinbandfec"] = 1
    return str(description)


def sends_opus(answer_sdp: str) -> bool:
    """Whether the answer's audio is sent as Opus (its first audio codec: aiortc sends with that)."""
    for media in SessionDescription.parse(answer_sdp).media:
        if media.kind == "audio" and media.rtp.codecs:
            return media.rtp.codecs[0].mimeType.lower() == "audio/opus"
    return False
