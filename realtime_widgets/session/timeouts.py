"""What a call does when the response it waits for does not finish in time.

The service keeps a response running until it ends or is cancelled, and refuses a new one meanwhile
(`conversation_already_has_active_response`). So a call that gives up says what it awaited, sends
`response.cancel`, waits briefly for the service's `response.done` (status cancelled), and marks the
turn cancelled itself when that does not come either: the session is ready for the next turn.
"""

from __future__ import annotations

from ..conversation import Turn
from ..errors import RequestTimeout, ServerError, SessionClosed
from . import client_events
from .dispatch import Dispatch
from .link import Link

# How long a call that timed out waits for the service to confirm the cancel (on top of its timeout).
CANCEL_GRACE_S = 1.0


async def abandon_response(
    turn: Turn | None, err: RequestTimeout, link: Link, dispatch: Dispatch
) -> RequestTimeout:
    """Cancel `turn`'s response after `err`; returns the error to raise, saying what was done."""
    if turn is None or turn.done:
        return err
    cancelled = await _cancel(turn, link, dispatch)
    if not turn.done:  # the service did not answer the cancel: the turn ends here all the same
        turn.status = "cancelled"
        turn.error = {"type": "timeout", "message": str(err)}
    done = (
        "response.cancel was sent and the service cancelled it"
        if cancelled
        else "the turn is marked cancelled (the connection could not send response.cancel)"
        if not link.is_open
        else "response.cancel was sent and the turn marked cancelled"
    )
    return RequestTimeout(
        f"{err}; waited for turn {turn.index}. {done}, so the session is ready for the next turn.",
        awaited=err.awaited,
        timeout=err.timeout,
    )


async def _cancel(turn: Turn, link: Link, dispatch: Dispatch) -> bool:
    """Send `response.cancel` and wait up to CANCEL_GRACE_S for the turn to end; True if it did."""
    if link.status != "connected":
        return False
    event_id = link.new_id()
    # The cancel's own error (no active response: the service never started it) ends the wait too.
    waiter = dispatch.expect(lambda e: e.type == "response.done" and turn.done, {event_id})
    try:
        await link.send({**client_events.response_cancel(), "event_id": event_id})
        await dispatch.wait(waiter, "response.done (cancelled)", CANCEL_GRACE_S)
    except (RequestTimeout, ServerError, SessionClosed):
        pass
    finally:
        dispatch.forget(waiter)
    return turn.done
