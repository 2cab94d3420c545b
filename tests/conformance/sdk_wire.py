"""The official SDK's connections to the emulator, read raw so every server event is checked as sent."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from openai import AsyncAzureOpenAI, AsyncOpenAI
from strict import TALLY, ConformanceError, Protocol, validate

from realtime_widgets.emulator.voice import synthesize

PREVIEW_API_VERSION = "2025-04-01-preview"

# Shape bugs the emulator is known to have, tolerated in the tour so it keeps guarding every other
# event: {(protocol, event type, field): what is wrong}. An entry also turns the matching check in
# test_conformance_shapes.py into an xfail(strict=True); a fix XPASSes and the entry must go.
# Empty since the emulator adopted the SDK's part types, transcription usage and call names.
KNOWN_DEVIATIONS: dict[tuple[str, str, str], str] = {}


def ga_client(emu) -> AsyncOpenAI:
    return AsyncOpenAI(websocket_base_url=f"ws://127.0.0.1:{emu.port}/openai/v1", api_key=emu.api_key)


def preview_client(emu) -> AsyncAzureOpenAI:
    return AsyncAzureOpenAI(
        azure_endpoint=emu.endpoint,
        api_version=PREVIEW_API_VERSION,
        api_key=emu.api_key,
        websocket_base_url=f"ws://127.0.0.1:{emu.port}/openai",
    )


@contextlib.asynccontextmanager
async def connect(emu, protocol: Protocol, **kw) -> AsyncIterator[Any]:
    """The SDK's connection for one protocol (`async with connect(...) as conn`); closes its client too."""
    async with ga_client(emu) if protocol == "ga" else preview_client(emu) as client:
        realtime = client.realtime if protocol == "ga" else client.beta.realtime
        async with realtime.connect(model=emu.deployment, **kw) as conn:
            yield conn


def check(protocol: Protocol, raw: dict[str, Any]) -> None:
    """Validate strictly and count; a failure not listed in KNOWN_DEVIATIONS raises."""
    try:
        _, findings = validate(protocol, raw)
    except ConformanceError as exc:
        unknown = [p for p in exc.problems if _known(protocol, exc.event_type, p) is None]
        if unknown:
            raise
        for problem in exc.problems:
            TALLY.tolerated[(protocol, exc.event_type, problem.split(":")[0])] += 1
        TALLY.validated[protocol] += 1
        TALLY.types[protocol].add(exc.event_type)
        return
    TALLY.record(protocol, raw["type"], findings)


def _known(protocol: str, event_type: str, problem: str) -> str | None:
    loc = problem.split(":")[0]
    return KNOWN_DEVIATIONS.get((protocol, event_type, loc))


class Wire:
    """One SDK connection, read with `recv_bytes()` so the checked event is the one on the wire."""

    def __init__(self, conn, protocol: Protocol) -> None:
        self.conn = conn
        self.protocol = protocol
        self.events: list[dict[str, Any]] = []

    async def recv(self, timeout: float = 15.0) -> dict[str, Any]:
        raw = json.loads(await asyncio.wait_for(self.conn.recv_bytes(), timeout))
        check(self.protocol, raw)
        self.events.append(raw)
        return raw

    async def until(self, *kinds: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Events up to and including the first whose type is one of `kinds`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        out = []
        while True:
            ev = await self.recv(max(0.01, deadline - loop.time()))
            out.append(ev)
            if ev["type"] in kinds:
                return out

    async def drain(self, quiet_s: float = 0.3) -> list[dict[str, Any]]:
        """Everything that arrives until the wire is quiet for `quiet_s`."""
        out = []
        while True:
            try:
                out.append(await self.recv(quiet_s))
            except TimeoutError:
                return out

    async def append_speech(self, samples: np.ndarray, chunk_ms: int = 100) -> None:
        step = 24 * chunk_ms
        for i in range(0, len(samples), step):
            chunk = samples[i : i + step].astype("<i2").tobytes()
            await self.conn.input_audio_buffer.append(audio=base64.b64encode(chunk).decode())


def of_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind]


def silence(ms: int) -> np.ndarray:
    return np.zeros(24 * ms, np.int16)


def speech(text: str, lead_ms: int = 300, tail_ms: int = 900) -> np.ndarray:
    """The emulator's own voice saying `text`, with silence either side (enough for server VAD to end it)."""
    return np.concatenate([silence(lead_ms), synthesize(text), silence(tail_ms)])
