"""What a response says: the reply rule applied to the context the response answers.

The context is the conversation, or a response's own out-of-band `input`. A user item is answered
once; a function call output is answered by reading the result aloud; tools may be called instead
(see tools.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import session_config, tools
from .replies import Prompt, reply_for

if TYPE_CHECKING:
    from .realtime import RealtimeSession


@dataclass
class Reply:
    text: str
    user_seconds: float = 0.0
    call: tools.Call | None = None


def response_tools(session: dict[str, Any], options: dict[str, Any]) -> tuple[list[dict[str, Any]], Any]:
    """The tools and tool_choice of this response: its own if it names them, else the session's."""
    return (
        options.get("tools", session.get("tools") or []),
        options.get("tool_choice", session.get("tool_choice", "auto")),
    )


async def choose(s: RealtimeSession, options: dict[str, Any], context: list[dict[str, Any]] | None) -> Reply:
    """The reply to `context` (None: the conversation, whose user items are answered only once)."""
    items = list(s.items.values()) if context is None else context
    fn_tools, choice = response_tools(s.session, options)
    if items and items[-1].get("type") == "function_call_output":
        call = tools.choose_call(fn_tools, choice, None, answering_output=True)
        if call is not None:
            return Reply("", 0.0, call)
        output = items[-1]
        name = next((i["name"] for i in items if i.get("call_id") == output["call_id"] and "name" in i), None)
        return Reply(" ".join(f"{name or 'the function'} returned {output['output']}".split()))
    at = next((n for n in range(len(items) - 1, -1, -1) if items[n].get("role") == "user"), None)
    user = None if at is None else items[at]
    answered = s.responses.answered
    if (
        context is None
        and at is not None
        and user is not None
        and any(i.get("role") == "assistant" for i in items[at + 1 :])
    ):
        answered.add(user["id"])  # answered earlier (e.g. history a client created again)
    text: str | None = None
    seconds = 0.0
    instructions = options.get("instructions") or session_config.instructions(s.session)
    if user is not None and (context is not None or user["id"] not in answered):
        answered.add(user["id"])
        texts = [p["text"] for p in user["content"] if p["type"] == "input_text"]
        if user["id"] in s.transcripts:
            seconds = s.items.audio_seconds(user["id"])
            text = await asyncio.shield(s.transcripts[user["id"]]) or None
        if texts:
            text = " ".join(texts)
    elif options.get("instructions"):
        text = options["instructions"]
    call = tools.choose_call(fn_tools, choice, text, answering_output=False)
    if call is not None:
        return Reply("", seconds, call)
    # Typed words win over a transcript in the (rare) item carrying both.
    reply = await reply_for(s.ctx.reply, Prompt(instructions, text, text, seconds))
    return Reply(reply, seconds)
