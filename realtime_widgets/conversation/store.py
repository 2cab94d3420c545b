"""Saving a Conversation to a folder and loading it back by replaying its events with its audio."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..events import AUDIO_PAYLOAD_KEYS, RealtimeEvent, parse_audio_ref
from ..protocol import SAMPLE_RATE
from ..wav import read_wav, write_wav

if TYPE_CHECKING:
    from .conversation import Conversation

EVENTS_FILE = "events.jsonl"
STREAMS = ("input", "output")


def save(conversation: Conversation, folder: str | Path) -> Path:
    """Write `events.jsonl` (audio as references) and `input.wav` / `output.wav` into `folder`."""
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    for name in STREAMS:
        write_wav(path / f"{name}.wav", conversation.stream(name).iter_bytes())
    with open(path / EVENTS_FILE, "w", encoding="utf-8") as fh:
        for event in conversation.events:
            fh.write(event.to_json())
            fh.write("\n")
    return path


def load_into(conversation: Conversation, folder: str | Path) -> Conversation:
    """Replay the events saved in `folder` into an empty `conversation`, with their audio."""
    path = Path(folder)
    events_path = path / EVENTS_FILE
    if not events_path.is_file():
        raise FileNotFoundError(
            f"{events_path} not found: is {path} a folder written by Conversation.save()?"
        )
    audio = {name: _read_stream(path / f"{name}.wav") for name in STREAMS}
    with open(events_path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                event = RealtimeEvent.from_dict(json.loads(line))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{events_path}:{number}: not a saved event ({exc})") from None
            # Feed the referenced audio exactly where the live session had put it.
            spec = AUDIO_PAYLOAD_KEYS.get(event.type)
            ref = parse_audio_ref(event.raw.get(spec[0])) if spec is not None else None
            if ref is not None:
                name, start, stop = ref
                stream = conversation.stream(name)
                if start != len(stream):
                    raise ValueError(f"{events_path}:{number}: audio reference {ref} is out of order")
                data = audio[name][start * 2 : stop * 2]
                if len(data) != (stop - start) * 2:
                    raise ValueError(f"{events_path}:{number}: {name}.wav is shorter than its references")
                stream.append(data)
            conversation.apply(event)
    return conversation


def _read_stream(path: Path) -> memoryview:
    if not path.is_file():
        return memoryview(b"")
    try:
        samples, _ = read_wav(path, rate=SAMPLE_RATE)
    except ValueError as exc:
        raise ValueError(f"{exc}; Conversation.save writes 16-bit mono PCM at {SAMPLE_RATE} Hz") from None
    return samples.astype("<i2", copy=False).data.cast("B")  # the samples' bytes, not a copy
