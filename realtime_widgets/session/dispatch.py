"""Where every event goes once recorded: waiting calls, callbacks (`on`) and iterators (`events`).

Errors are routed here too: a server `error` event names the client event it answers
(`error.event_id`), and fails the call that sent it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ..errors import CassetteMismatch, RequestTimeout, ServerError
from ..events import RealtimeEvent
from ..protocol import to_ga_event_type

log = logging.getLogger(__name__)

Predicate = Callable[[RealtimeEvent], bool]


class Waiter:
    """A call waiting for the event that finishes it, or for an error that concerns it."""

    __slots__ = ("done", "event_ids", "future", "catch_any_error")

    def __init__(self, done: Predicate, event_ids: set[str], catch_any_error: bool) -> None:
        self.done = done
        self.event_ids = event_ids
        self.catch_any_error = catch_any_error
        self.future: asyncio.Future[RealtimeEvent] = asyncio.get_running_loop().create_future()
        # A call that stopped waiting (cancelled, or failed before its wait) leaves no
        # "Future exception was never retrieved" behind: the error is in s.errors or was raised.
        self.future.add_done_callback(_retrieve)


class Dispatch:
    """Waiters, listeners and iterators of one session; `describe()` names the endpoint in timeouts."""

    def __init__(self, timeout: float, describe: Callable[[], str]) -> None:
        self.timeout = timeout
        self._describe = describe
        self._listeners: dict[str, list[Callable[[RealtimeEvent], Any]]] = {}
        self._iterators: set[asyncio.Queue[Any]] = set()
        self._waiters: list[Waiter] = []
        self._tasks: set[asyncio.Future[Any]] = set()

    # -- subscribers -----------------------------------------------------------------------
    def on(self, event_type: str, fn: Callable[[RealtimeEvent], Any]) -> Callable[[], None]:
        if not callable(fn):
            raise TypeError(f"on() needs a callable, got {fn!r}")
        key = "*" if event_type == "*" else to_ga_event_type(event_type)
        self._listeners.setdefault(key, []).append(fn)

        def unsubscribe() -> None:
            handlers = self._listeners.get(key, [])
            if fn in handlers:
                handlers.remove(fn)

        return unsubscribe

    async def events(self) -> AsyncIterator[RealtimeEvent]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._iterators.add(queue)
        try:
            while True:
                event = await queue.get()
                if event is None:
                    return
                yield event
        finally:
            self._iterators.discard(queue)

    def deliver(self, event: RealtimeEvent) -> None:
        """Waiters first (a call returns as soon as its event is in), then callbacks, then iterators."""
        for waiter in list(self._waiters):
            if not waiter.future.done() and waiter.done(event):
                waiter.future.set_result(event)
        for fn in (*self._listeners.get(event.type, ()), *self._listeners.get("*", ())):
            self._call(fn, event)
        for queue in self._iterators:
            queue.put_nowait(event)

    def _call(self, fn: Callable[[RealtimeEvent], Any], event: RealtimeEvent) -> None:
        try:
            result = fn(event)
            if inspect.isawaitable(result):
                self.spawn(result)
        except Exception:
            log.exception("realtime callback %r failed on %s", fn, event.type)

    def spawn(self, work: Awaitable[Any]) -> asyncio.Future[Any]:
        """Run `work` in the background; its failure is logged, never lost."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("realtime callback failed", exc_info=task.exception())

    # -- errors ----------------------------------------------------------------------------
    def route_error(self, event: RealtimeEvent) -> ServerError:
        """The ServerError of an `error` event, raised in the call that sent the offending event."""
        raw = event.raw
        if not isinstance(raw.get("error"), dict):  # an error without the documented object still counts
            raw = {**raw, "error": {"message": str(raw.get("error") or "") or None}}
        err = ServerError.from_event(raw)
        if isinstance(err, CassetteMismatch):  # a replayed run left its cassette: no answer will come
            self.release(self.detach(), err)
            return err
        source = raw["error"].get("event_id")
        # An error without an event id goes to the newest call that asked for any error; otherwise
        # it stays recorded (log, s.errors, the turn).
        target = None
        for waiter in reversed(self._waiters):
            if waiter.future.done():
                continue
            if source and source in waiter.event_ids:
                target = waiter
                break
            if not source and waiter.catch_any_error and target is None:
                target = waiter
        if target is not None:
            target.future.set_exception(err)
        return err

    # -- waiting ---------------------------------------------------------------------------
    @property
    def waiting(self) -> int:
        """How many calls are waiting for an event (0 when the session is idle)."""
        return len(self._waiters)

    def expect(self, done: Predicate, event_ids: set[str], *, catch_any_error: bool = False) -> Waiter:
        """Register before sending, so a fast reply is never missed."""
        waiter = Waiter(done, event_ids, catch_any_error)
        self._waiters.append(waiter)
        return waiter

    def forget(self, waiter: Waiter) -> None:
        """Drop a waiter whose request was not sent or needs no answer."""
        if waiter in self._waiters:
            self._waiters.remove(waiter)

    async def wait(self, waiter: Waiter, what: str, timeout: float | None = None) -> RealtimeEvent:
        try:
            return await asyncio.wait_for(asyncio.shield(waiter.future), timeout or self.timeout)
        except asyncio.TimeoutError:
            seconds = timeout or self.timeout
            raise RequestTimeout(
                f"no {what} from {self._describe()} within {seconds:g} s (s.event_log shows what did arrive)",
                awaited=what,
                timeout=seconds,
            ) from None
        finally:
            self.forget(waiter)
            if not waiter.future.done():
                waiter.future.cancel()
            elif not waiter.future.cancelled():
                waiter.future.exception()  # mark retrieved

    async def wait_for(
        self, event_type: str, where: Predicate | None = None, timeout: float | None = None
    ) -> RealtimeEvent:
        key = to_ga_event_type(event_type)
        waiter = self.expect(
            lambda e: e.direction == "server" and e.type == key and (where is None or where(e)), set()
        )
        return await self.wait(waiter, event_type, timeout)

    def detach(self) -> list[Waiter]:
        """The calls waiting on a connection that is gone: they see no more events; `release` them."""
        waiters, self._waiters = self._waiters, []
        return [w for w in waiters if not w.future.done()]

    @staticmethod
    def release(waiters: list[Waiter], exc: BaseException) -> None:
        for waiter in waiters:
            if not waiter.future.done():
                waiter.future.set_exception(exc)

    def end_iterators(self) -> None:
        for queue in self._iterators:
            queue.put_nowait(None)

    def close(self, exc: BaseException) -> None:
        """The session ended: pending calls raise `exc`, iterators stop."""
        self.release(self.detach(), exc)
        self.end_iterators()


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
