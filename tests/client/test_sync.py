"""run_sync from plain threads: one background loop, results and exceptions pass through."""

from __future__ import annotations

import asyncio
import threading

import pytest

from realtime_widgets.completions import AudioChat
from realtime_widgets.config import ConnectionConfig
from realtime_widgets.sync import background_loop, run_sync


def test_run_sync_from_a_plain_thread_shares_one_loop():
    results: dict[str, object] = {}

    async def where() -> int:
        await asyncio.sleep(0.01)
        return id(asyncio.get_running_loop())

    def worker(name: str) -> None:
        results[name] = run_sync(where())

    threads = [threading.Thread(target=worker, args=(f"t{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert set(results.values()) == {id(background_loop())}


def test_exceptions_timeouts_and_misuse():
    async def boom() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        run_sync(boom())
    with pytest.raises(TimeoutError, match="did not finish"):
        run_sync(asyncio.sleep(5), timeout=0.05)
    with pytest.raises(TypeError, match="coroutine"):
        run_sync(lambda: 1)

    async def nested() -> None:
        run_sync(asyncio.sleep(0))

    with pytest.raises(RuntimeError, match="background loop itself"):
        run_sync(nested())


def test_run_sync_drives_the_async_client_against_the_emulator(emulator):
    chat = AudioChat(ConnectionConfig.for_emulator(emulator))
    out: list = []
    thread = threading.Thread(
        target=lambda: out.append(run_sync(chat.ask_async("From a thread"), timeout=60))
    )
    thread.start()
    thread.join(60)
    assert out and "From a thread" in out[0].transcript
    run_sync(chat.aclose())  # its client belongs to the background loop it ran on
