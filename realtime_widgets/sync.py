"""`run_sync`: call the package's coroutines from plain scripts and threads.

One event loop runs on a daemon thread per process; `run_sync` submits a coroutine to it and
waits. Nothing global is patched (no nest_asyncio), so a notebook's own loop is untouched.
Objects bound to a loop (a RealtimeSession) must be used through `run_sync` consistently.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import inspect
import threading
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

__all__ = ["background_loop", "run_sync"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def background_loop() -> asyncio.AbstractEventLoop:
    """The process-wide background event loop (started on first use)."""
    global _loop, _thread
    with _lock:
        if _loop is None or _loop.is_closed() or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            thread = threading.Thread(target=run, name="realtime_widgets-loop", daemon=True)
            thread.start()
            ready.wait()
            _loop, _thread = loop, thread
        return _loop


def _stop() -> None:
    loop = _loop
    if loop is not None and not loop.is_closed():
        loop.call_soon_threadsafe(loop.stop)


atexit.register(_stop)


async def _await(awaitable: Awaitable[T]) -> T:
    return await awaitable


def run_sync(awaitable: Awaitable[T], timeout: float | None = None) -> T:
    """Run a coroutine (or any awaitable) on the background loop and return its result.

    Raises what the coroutine raised; `TimeoutError` after `timeout` seconds (the coroutine is
    cancelled). Calling it from the background loop's own thread would deadlock, so that is an error.
    """
    if not inspect.isawaitable(awaitable):
        raise TypeError(f"run_sync needs a coroutine or awaitable, got {type(awaitable).__name__}")
    loop = background_loop()
    if threading.current_thread() is _thread:
        if inspect.iscoroutine(awaitable):
            awaitable.close()
        raise RuntimeError("run_sync was called from the background loop itself; use `await` there instead")
    coro: Coroutine[Any, Any, T] = awaitable if inspect.iscoroutine(awaitable) else _await(awaitable)
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        return future.result(timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise TimeoutError(
            f"run_sync: the coroutine did not finish within {timeout} s (it was cancelled)"
        ) from None
    except BaseException:
        # KeyboardInterrupt in the waiting thread: do not leave the coroutine running.
        future.cancel()
        raise
