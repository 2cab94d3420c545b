"""`session.update` sent and answered: the server's session, or `SessionUpdateError` (old settings stay)."""

from __future__ import annotations

from typing import Any

from ..errors import ServerError, SessionUpdateError
from ..protocol import Protocol
from ..session_config import SessionConfig
from . import client_events
from .dispatch import Dispatch
from .link import Link


async def send_session_update(
    link: Link, dispatch: Dispatch, protocol: Protocol, current: SessionConfig, config: SessionConfig
) -> dict[str, Any]:
    """Send `config` in place of `current`; returns the server's session once it says updated."""
    if not isinstance(config, SessionConfig):
        raise TypeError(f"update() needs a SessionConfig, got {type(config).__name__}")
    if config.type != current.type and link.is_open:
        raise ValueError(
            f"SessionConfig.type={config.type!r}: the session type is chosen when connecting "
            f"(this one is {current.type!r}); open a new RealtimeSession with that config"
        )
    event_id = link.new_id()
    # Preview transcription sessions answer with transcription_session.updated, read as session.updated.
    waiter = dispatch.expect(lambda e: e.type == "session.updated", {event_id}, catch_any_error=True)
    event = client_events.session_update(
        config.update_event_type(protocol), config.to_session(protocol), event_id
    )
    try:
        await link.send(event)
        answer = await dispatch.wait(waiter, "session.updated")
    except ServerError as err:
        if isinstance(err, SessionUpdateError):
            raise
        raise SessionUpdateError(str(err), code=err.code, param=err.param, event=err.event) from None
    finally:
        dispatch.forget(waiter)
    session = answer.raw.get("session")
    return session if isinstance(session, dict) else {}
