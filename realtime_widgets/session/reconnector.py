"""One reconnect at a time, whoever asks: `reconnect()` and the automatic loop share one lock.

A reconnect that waited while another one restored the session does nothing more (no second
connection, no second replay). Calls that were waiting on the lost connection are woken once the
outcome is known, with a `SessionClosed` whose `.restored` says whether the session came back; their
requests went with the old connection. Audio appended meanwhile is held and sent once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from ..conversation import Conversation
from ..errors import SessionClosed
from ..session_config import SessionConfig
from .dispatch import Dispatch, Waiter
from .held_audio import HeldAudio
from .link import REOPENING, Link
from .reconnect import ReconnectPolicy, replay_history


class Reconnector:
    """`connect()` opens and configures; `config()` is the session's current SessionConfig."""

    def __init__(
        self,
        policy: ReconnectPolicy,
        link: Link,
        dispatch: Dispatch,
        connect: Callable[[], Awaitable[object]],
        config: Callable[[], SessionConfig],
    ) -> None:
        self._policy = policy
        self._link = link
        self._dispatch = dispatch
        self._connect = connect
        self._config = config
        self._conversation: Conversation | None = None
        self._held = HeldAudio()
        self._send_held: Callable[[], None] = lambda: None
        self._lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None  # (the loop it serves, lock)
        self._generation = 0  # successful reconnects so far
        self._auto: asyncio.Task[None] | None = None
        self._orphans: list[Waiter] = []  # calls waiting on a lost connection, woken with the outcome
        self._dropped: SessionClosed | None = None  # the close they were waiting through

    def replay_to(self, conversation: Conversation, held: HeldAudio, send_held: Callable[[], None]) -> None:
        """What a new server session is given: `conversation`'s history, then the audio `held` kept."""
        self._conversation = conversation
        self._held = held
        self._send_held = send_held

    @property
    def auto_running(self) -> bool:
        return self._auto is not None and not self._auto.done()

    async def reconnect(self, replay: bool) -> None:
        seen = self._generation
        async with self._lock_here():
            if self._generation != seen and self._link.status == "connected":
                return  # another reconnect restored the session while this one waited
            self._orphans += self._dispatch.detach()
            self._held.start()
            self._link.reconnecting = True
            await self._link.teardown()
            self._link.status = "closed"
            reopening = REOPENING.set(True)
            try:
                await self._connect()
                # A WebRTC call's session lives on while the sideband rejoins: nothing to replay.
                if (
                    replay
                    and self._link.call_id is None
                    and self._conversation is not None
                    and not self._config().is_transcription
                ):
                    await replay_history(self._conversation.turns, self._link, self._dispatch)
            except BaseException as exc:
                if not self.auto_running:  # else the automatic loop tries again, and wakes them at its end
                    self._give_up(f"{type(exc).__name__}: {exc}")
                raise
            finally:
                REOPENING.reset(reopening)
            self._generation += 1
            self._restored()

    def _lock_here(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock[0] is not loop:  # a session may be reused on another loop
            self._lock = (loop, asyncio.Lock())
        return self._lock[1]

    def lost(self, closed: SessionClosed) -> None:
        """The link lost its socket: start reconnecting if the policy says so, else wake waiting calls."""
        self._dispatch.end_iterators()
        code = closed.code or 1006
        if not self.auto_running and self._policy.wants(self._link.status, code):
            self._dropped = closed
            self._orphans += self._dispatch.detach()
            self._held.start()
            self._link.reconnecting = True
            self._auto = asyncio.ensure_future(self._run_auto(code))
        else:  # no reconnect coming, or a drop during one (its attempt fails and the loop retries)
            self._dispatch.release(self._dispatch.detach(), closed)

    async def stop(self) -> None:
        """The session is closing: the automatic loop ends and waiting calls are woken."""
        task = self._auto
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._give_up("the session was closed")

    async def _run_auto(self, code: int) -> None:
        generation = self._generation
        restored = False
        try:
            restored = await self._policy.run(
                code,
                lambda: self.reconnect(True),
                lambda: self._link.closing,
                lambda: self._link.status == "connected",
            )
        finally:
            if not restored and self._generation == generation:  # else another reconnect restored it
                self._give_up(f"auto-reconnect gave up after {self._policy.max_attempts} attempt(s)")

    def _restored(self) -> None:
        self._link.reconnecting = False
        auto = self._auto
        if auto is not None and not auto.done() and auto is not asyncio.current_task():
            auto.cancel()  # a reconnect() restored the session while the automatic loop waited
        dropped, self._dropped = self._dropped, None
        what = (
            f"The connection dropped (code {dropped.code})"
            if dropped
            else "reconnect() replaced the connection"
        )
        self._wake(
            SessionClosed(
                f"{what} while this call waited for its answer. The session is back (s.status is "
                "'connected', the conversation so far replayed), but the request went with the old "
                "connection: send it again.",
                code=dropped.code if dropped else None,
                restored=True,
            )
        )
        self._send_held()

    def _give_up(self, why: str) -> None:
        self._link.reconnecting = False
        dropped, self._dropped = self._dropped, None
        self._held.stop()
        if not self._orphans:
            return
        what = str(dropped) if dropped else "reconnect() closed the connection while this call waited."
        self._wake(
            SessionClosed(
                f"{what} The session was not restored ({why}).",
                code=dropped.code if dropped else None,
                reason=dropped.reason if dropped else "",
                restored=False,
            )
        )

    def _wake(self, exc: SessionClosed) -> None:
        orphans, self._orphans = self._orphans, []
        self._dispatch.release(orphans, exc)
