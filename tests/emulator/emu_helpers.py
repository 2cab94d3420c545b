"""Helpers for the emulator tests: the openai SDK's clients, raw WebSocket clients and event collection."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import websockets
from openai import AsyncAzureOpenAI, AsyncOpenAI


def ga_client(emu) -> AsyncOpenAI:
    return AsyncOpenAI(websocket_base_url=f"ws://127.0.0.1:{emu.port}/openai/v1", api_key=emu.api_key)


def preview_client(emu) -> AsyncAzureOpenAI:
    return AsyncAzureOpenAI(
        azure_endpoint=emu.endpoint,
        api_version="2025-04-01-preview",
        api_key=emu.api_key,
        websocket_base_url=f"ws://127.0.0.1:{emu.port}/openai",
    )


@contextlib.asynccontextmanager
async def ga_connect(emu, **kw: Any) -> AsyncIterator[Any]:
    """The SDK's GA realtime connection to the emulator; closes the client with it."""
    async with ga_client(emu) as client, client.realtime.connect(model=emu.deployment, **kw) as conn:
        yield conn


@contextlib.asynccontextmanager
async def preview_connect(emu, **kw: Any) -> AsyncIterator[Any]:
    """The SDK's preview (beta) realtime connection to the emulator; closes the client with it."""
    async with (
        preview_client(emu) as client,
        client.beta.realtime.connect(model=emu.deployment, **kw) as conn,
    ):
        yield conn


def ga_url(emu, model: str | None = None) -> str:
    return f"ws://127.0.0.1:{emu.port}/openai/v1/realtime?model={model or emu.deployment}"


def preview_url(emu, deployment: str | None = None, version: str | None = "2025-04-01-preview") -> str:
    q = f"deployment={deployment or emu.deployment}"
    if version is not None:
        q += f"&api-version={version}"
    return f"ws://127.0.0.1:{emu.port}/openai/realtime?{q}"


class Raw:
    """A raw WebSocket client speaking JSON events (for what the SDK would never send)."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []

    async def send(self, event: dict[str, Any] | str) -> None:
        await self.ws.send(event if isinstance(event, str) else json.dumps(event))

    async def recv(self, timeout: float = 10.0) -> dict[str, Any]:
        ev = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.events.append(ev)
        return ev

    async def until(self, kind: str, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Events received up to and including the first of type `kind`."""
        out = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            ev = await self.recv(max(0.01, deadline - loop.time()))
            out.append(ev)
            if ev["type"] == kind:
                return out

    async def sync(self) -> list[dict[str, Any]]:
        """Everything the server sent before it handled this point (a deliberate error as a marker)."""
        await self.send({"type": "conversation.item.retrieve", "item_id": "sync-marker"})
        out = []
        while True:
            ev = await self.recv()
            if ev["type"] == "error" and "sync-marker" in ev["error"]["message"]:
                return out
            out.append(ev)

    async def append(self, samples: np.ndarray, chunk_ms: int = 100) -> None:
        step = 24 * chunk_ms
        for i in range(0, len(samples), step):
            await self.send({"type": "input_audio_buffer.append", "audio": b64(samples[i : i + step])})


def b64(samples: np.ndarray) -> str:
    return base64.b64encode(samples.astype("<i2").tobytes()).decode()


async def raw_connect(url: str, key: str | None = "emulator-key", **kw) -> Raw:
    headers = {"api-key": key} if key is not None else {}
    ws = await websockets.connect(url, additional_headers=headers, max_size=None, **kw)
    raw = Raw(ws)
    first = await raw.recv()
    assert first["type"] == "session.created"
    return raw


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if len(x) else 0.0


def pcm(delta_b64: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(delta_b64), "<i2")
