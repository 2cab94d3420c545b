"""The cassette format: file names, JSONL lines, audio references and the audio codec.

A leaf both sides import: the client's recorder (`cassette.py`) writes a cassette, the emulator's
replay (`emulator/replay.py`) reads it, and neither may import the other (tests/test_layers.py).
The format is described in docs/cassettes.md.

A cassette is a folder:

- `cassette.json`: format version, protocol, deployment names, when and with what it was recorded;
- `realtime-001.jsonl`: one line per event of the first realtime session, in order:
  `{"t": seconds since open, "dir": "client"|"server", "event": {...}}`, where every base64 audio
  payload is replaced by `{"$audio": {"file", "offset_s", "duration_s", "bytes"}}`;
- `realtime-001.client.opus` / `realtime-001.server.opus`: that session's audio, each direction
  one track (PCM16 24 kHz mono, as Opus in Ogg);
- `chat.jsonl`: one line per audio chat completion `{"t", "request": {...}, "reply": {...}}`
  (streamed replies as their list of chunks), with `chat.client.opus` / `chat.server.opus`.
"""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "AUDIO_REF",
    "CASSETTE_FILE",
    "CHAT_FILE",
    "ENV_VARIABLE",
    "FORMAT_VERSION",
    "MODES",
    "MODE_VARIABLE",
    "AudioTrack",
    "AudioTracks",
    "read_info",
    "read_jsonl",
    "realtime_file",
]

FORMAT_VERSION = 1
CASSETTE_FILE = "cassette.json"
CHAT_FILE = "chat.jsonl"
AUDIO_REF = "$audio"
AUDIO_SUFFIX = "opus"  # chosen by measurement over FLAC: docs/cassettes.md
OPUS_BITRATE = 32_000  # bits/s; speech stays word-for-word transcribable (docs/cassettes.md)
RATE = 24_000  # PCM16 mono, the realtime and streamed-completion audio format
# The modes of pytest-recording's --record-mode (its default "none" is for CI: replay only).
MODES = ("none", "once", "all")
# One variable names the cassette for a whole notebook run; the second, optional, sets the mode.
ENV_VARIABLE = "REALTIME_WIDGETS_CASSETTE"
MODE_VARIABLE = "REALTIME_WIDGETS_RECORD_MODE"

# Where audio sits in events: (event type suffix, field). Item content parts are handled apart.
_AUDIO_FIELDS = {
    "input_audio_buffer.append": "audio",
    "response.output_audio.delta": "delta",
    "response.audio.delta": "delta",
}


def realtime_file(index: int) -> str:
    """The events file of the `index`-th (1-based) realtime session."""
    return f"realtime-{index:03d}.jsonl"


def audio_file(stem: str, direction: str) -> str:
    return f"{stem}.{direction}.{AUDIO_SUFFIX}"


def read_info(folder: Path) -> dict[str, Any]:
    """`cassette.json`, checked; a clear error when the folder is no cassette."""
    path = Path(folder) / CASSETTE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{folder} holds no {CASSETTE_FILE}: it is not a cassette (record one first)")
    info = json.loads(path.read_text(encoding="utf-8"))
    if info.get("format") != FORMAT_VERSION:
        raise ValueError(
            f"{path} is cassette format {info.get('format')!r}; this version reads format {FORMAT_VERSION}: "
            "re-record it"
        )
    return dict(info)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_json(path: Path, value: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# -- audio ---------------------------------------------------------------------------------------
def encode(pcm16: np.ndarray, codec: str = AUDIO_SUFFIX, bitrate: int = OPUS_BITRATE) -> bytes:
    """PCM16 24 kHz mono as Opus in Ogg (or FLAC), with PyAV."""
    container_format, codec_name = {"opus": ("ogg", "libopus"), "flac": ("flac", "flac")}[codec]
    return encode_pcm16(
        pcm16, RATE, container_format, codec_name, bit_rate=bitrate if codec == "opus" else None
    )


def encode_pcm16(
    pcm16: np.ndarray,
    rate: int,
    container_format: str,
    codec_name: str,
    out_rate: int | None = None,
    bit_rate: int | None = None,
) -> bytes:
    """PCM16 mono at `rate` encoded by PyAV as `codec_name` in `container_format`, resampled to
    `out_rate` (default `rate`); the one encoder behind cassettes and `audio.encode_audio`."""
    import av

    out_rate = out_rate or rate
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container_format) as container:
        stream: Any = container.add_stream(codec_name, rate=out_rate, layout="mono")
        if bit_rate is not None:
            stream.bit_rate = bit_rate
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=out_rate)
        samples = np.asarray(pcm16, dtype=np.int16)
        step = rate  # one second per frame handed to the resampler
        for start in range(0, len(samples), step):
            frame = av.AudioFrame.from_ndarray(samples[start : start + step].reshape(1, -1), "s16", "mono")
            frame.sample_rate = rate
            for f in resampler.resample(frame):
                for packet in stream.encode(f):
                    container.mux(packet)
        for f in resampler.resample(None):
            for packet in stream.encode(f):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    """An encoded track back to PCM16 24 kHz mono."""
    import av

    parts: list[np.ndarray] = []
    with av.open(io.BytesIO(data)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        for frame in container.decode(audio=0):
            for f in resampler.resample(frame):
                parts.append(f.to_ndarray().reshape(-1))
        for f in resampler.resample(None):
            parts.append(f.to_ndarray().reshape(-1))
    return np.concatenate(parts).astype(np.int16) if parts else np.zeros(0, np.int16)


class AudioTrack:
    """One direction's audio: payloads go in as bytes and come back as references, in order."""

    def __init__(self, file: str) -> None:
        self.file = file
        self._pieces: list[bytes] = []
        self._bytes = 0

    def add(self, payload: bytes) -> dict[str, Any]:
        offset = self._bytes
        self._pieces.append(payload)
        self._bytes += len(payload)
        return {
            AUDIO_REF: {
                "file": self.file,
                "offset_s": round(offset / 2 / RATE, 6),
                "duration_s": round(len(payload) / 2 / RATE, 6),
                "bytes": len(payload),
            }
        }

    def save(self, folder: Path) -> None:
        if not self._bytes:
            return
        data = b"".join(self._pieces)
        pcm = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2")
        (Path(folder) / self.file).write_bytes(encode(pcm))


class AudioTracks:
    """Reads the audio a reference points at (each file decoded once)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._decoded: dict[str, np.ndarray] = {}

    def samples(self, ref: dict[str, Any]) -> np.ndarray:
        file = str(ref["file"])
        if file not in self._decoded:
            self._decoded[file] = decode((self.folder / file).read_bytes())
        track = self._decoded[file]
        start = int(round(float(ref["offset_s"]) * RATE))
        count = int(ref["bytes"]) // 2
        piece = track[start : start + count]
        if len(piece) < count:  # the codec's last frame may come back a little short
            piece = np.concatenate([piece, np.zeros(count - len(piece), np.int16)])
        return piece

    def payload(self, ref: dict[str, Any]) -> str:
        """The base64 the reference replaced (the codec's rendering of it: same length)."""
        data = self.samples(ref).astype("<i2").tobytes()
        if int(ref["bytes"]) % 2:
            data += b"\0"
        return base64.b64encode(data).decode("ascii")


def audio_seconds(value: str) -> float:
    """The duration of a base64 PCM16 payload, without decoding it."""
    padding = value[-2:].count("=") if value else 0
    return (len(value) * 3 // 4 - padding) / 2 / RATE


def _parts(event: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Item content parts that may carry audio (conversation.item.create / added / retrieved...)."""
    items = [event.get("item")]
    response = event.get("response")
    if isinstance(response, dict) and isinstance(response.get("output"), list):
        items.extend(response["output"])
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("content"), list):
            yield from (p for p in item["content"] if isinstance(p, dict))


def strip_audio(event: dict[str, Any], track: AudioTrack) -> dict[str, Any]:
    """A copy of `event` with each base64 audio payload moved into `track` (a reference left)."""
    event = json.loads(json.dumps(event))
    field = _AUDIO_FIELDS.get(str(event.get("type")))
    if field is not None and isinstance(event.get(field), str):
        event[field] = track.add(base64.b64decode(event[field]))
    for part in _parts(event):
        if isinstance(part.get("audio"), str) and part["audio"]:
            part["audio"] = track.add(base64.b64decode(part["audio"]))
    return event


def restore_audio(event: dict[str, Any], tracks: AudioTracks) -> dict[str, Any]:
    """`strip_audio` undone: references become base64 payloads again."""
    event = json.loads(json.dumps(event))
    field = _AUDIO_FIELDS.get(str(event.get("type")))
    if field is not None and is_audio_ref(event.get(field)):
        event[field] = tracks.payload(event[field][AUDIO_REF])
    for part in _parts(event):
        if is_audio_ref(part.get("audio")):
            part["audio"] = tracks.payload(part["audio"][AUDIO_REF])
    return event


def is_audio_ref(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get(AUDIO_REF), dict)


def ref_seconds(value: Any) -> float:
    """The duration a payload or a reference stands for."""
    if is_audio_ref(value):
        return float(value[AUDIO_REF]["duration_s"])
    return audio_seconds(value) if isinstance(value, str) else 0.0


# -- audio chat completions -------------------------------------------------------------------------
def _wav_pcm(data: bytes) -> bytes | None:
    """The PCM16 of a 24 kHz mono WAV, or None for anything else (kept as it is)."""
    from .wav import read_wav

    try:
        samples, _ = read_wav(data, rate=RATE)
    except (ValueError, EOFError):
        return None
    return samples.astype("<i2").tobytes()


def _strip_payload(value: str, track: AudioTrack, container: str) -> Any:
    data = base64.b64decode(value)
    if container == "wav":
        pcm = _wav_pcm(data)
        if pcm is None:
            return value
        ref = track.add(pcm)
        ref[AUDIO_REF]["container"] = "wav"
        return ref
    if container == "pcm16":
        return track.add(data)
    return value  # mp3, flac, opus replies stay inline: already compressed


def _restore_payload(value: Any, tracks: AudioTracks) -> Any:
    if not is_audio_ref(value):
        return value
    ref = value[AUDIO_REF]
    if ref.get("container") == "wav":
        from .wav import wav_bytes

        return base64.b64encode(wav_bytes(tracks.samples(ref), RATE)).decode("ascii")
    return tracks.payload(ref)


def _request_parts(request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for message in request.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            for part in content:
                audio = part.get("input_audio") if isinstance(part, dict) else None
                if isinstance(audio, dict):
                    yield audio


def _reply_audios(reply: dict[str, Any] | list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for body in reply if isinstance(reply, list) else [reply]:
        for choice in body.get("choices") or []:
            part = choice.get("delta") or choice.get("message") or {}
            if isinstance(part.get("audio"), dict):
                yield part["audio"]


def strip_chat_request(request: dict[str, Any], track: AudioTrack) -> dict[str, Any]:
    request = json.loads(json.dumps(request))
    for audio in _request_parts(request):
        if isinstance(audio.get("data"), str):
            audio["data"] = _strip_payload(audio["data"], track, str(audio.get("format", "wav")))
    return request


def strip_chat_reply(reply: Any, track: AudioTrack, request: dict[str, Any]) -> Any:
    """A completion (dict) or a streamed reply (list of chunks) with its audio in `track`."""
    reply = json.loads(json.dumps(reply))
    streamed = isinstance(reply, list)
    container = "pcm16" if streamed else str((request.get("audio") or {}).get("format", "wav"))
    for audio in _reply_audios(reply):
        if isinstance(audio.get("data"), str) and audio["data"]:
            audio["data"] = _strip_payload(audio["data"], track, container)
    return reply


def restore_chat_reply(reply: Any, tracks: AudioTracks) -> Any:
    reply = json.loads(json.dumps(reply))
    for audio in _reply_audios(reply):
        audio["data"] = _restore_payload(audio.get("data"), tracks)
    return reply


def request_audio_seconds(request: dict[str, Any]) -> list[float]:
    """The duration of each input audio part of a chat request (recorded or live)."""
    found = []
    for audio in _request_parts(request):
        data = audio.get("data")
        if isinstance(data, dict) and is_audio_ref(data):
            found.append(float(data[AUDIO_REF]["duration_s"]))
        elif isinstance(data, str):
            pcm = _wav_pcm(base64.b64decode(data)) if audio.get("format", "wav") == "wav" else None
            found.append(len(pcm) / 2 / RATE if pcm is not None else audio_seconds(data))
    return found
