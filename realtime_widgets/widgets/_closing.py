"""Closing a widget that owns a session: ipywidgets' `Widget.close` is synchronous, a session's is not."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any

import ipywidgets as w


class Done:
    """An already-finished awaitable (close() with no loop to run on)."""

    def __await__(self) -> Generator[None, None, None]:
        return
        yield


def close_soon(make: Callable[[], Coroutine[Any, Any, None]]) -> Awaitable[None]:
    """A task running `make()` on the running loop; with no loop (e.g. garbage collection), nothing to run."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return Done()
    return loop.create_task(make())


def close_when_collected(widget: w.Widget, detach: Callable[[], None]) -> None:
    """For `__del__`: stop following the session and close the comm, scheduling nothing."""
    try:
        detach()
        w.Widget.close(widget)
    except Exception:
        pass
