"""What a call does when the response it waits for does not finish in time.

The service keeps a response running until it ends or is cancelled, and refuses a new one meanwhile
(`conversation_already_has_active_response`). So a call that gives up says what it awaited, sends
`response.cancel`, waits briefly for the service's `response.done` (status cancelled), and marks the
turn cancelled itself when that does not come either: the session is ready for the next turn.
"""

from __future__ import annotations

from collections.abc import Callable

from ..conversation import Turn
from ..errors import RequestTimeout, ServerError, SessionClosed
from ..events import RealtimeEvent
from . import client_events
from .dispatch import Dispatch
from .link import Link

# How long a call that timed out waits for the service to confirm the cancel (on top of its timeout).
CANCEL_GRACE_S = 1.0


async def abandon_response(
    find_turn: Callable[[], Turn | None], err: RequestTimeout, link: Link, dispatch: Dispatch
) -> RequestTimeout:
    """Cancel the response the call asked for (`find_turn()` is its Turn once the service started it)
    after `err`; returns the error to raise, saying what was done."""
    turn = find_turn()
    if turn is not None and turn.done:
        return err
    confirmed = await _cancel(find_turn, link, dispatch)
    turn = find_turn()
    if turn is not None and not turn.done:  # the service did not confirm: the turn ends here all the same
        turn.status = "cancelled"
        turn.error = {"type": "timeout", "message": str(err)}
    if confirmed:
        done = "response.cancel was sent and the service cancelled the response"
    elif link.is_open:
        done = "response.cancel was sent" + (" and the turn marked cancelled" if turn is not None else "")
    else:
        done = "the connection is gone, so no response runs on" + (
            " (the turn is marked cancelled)" if turn else ""
        )
    where = f"; waited for turn {turn.index}" if turn is not None else ""
    return RequestTimeout(
        f"{err}{where}. {done}, so the session is ready for the next turn.",
        awaited=err.awaited,
        timeout=err.timeout,
    )


async def _cancel(find_turn: Callable[[], Turn | None], link: Link, dispatch: Dispatch) -> bool:
    """Send `response.cancel`, wait up to CANCEL_GRACE_S for the response to end; True if it did."""
    if link.status != "connected":
        return False

    def ended(event: RealtimeEvent) -> bool:
        turn = find_turn()
        return event.type == "response.done" and turn is not None and turn.done

    event_id = link.new_id()
    # The cancel's own error (no active response: the service never started one) ends the wait too.
    waiter = dispatch.expect(ended, {event_id})
    try:
        await link.send({**client_events.response_cancel(), "event_id": event_id})
        await dispatch.wait(waiter, "response.done (cancelled)", CANCEL_GRACE_S)
    except (RequestTimeout, ServerError, SessionClosed):
        return False
    finally:
        dispatch.forget(waiter)
    return True
