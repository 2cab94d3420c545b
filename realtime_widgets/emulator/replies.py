"""Deterministic replies that say what they are (no language model here)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

# fn(user_text_or_transcript, audio_seconds) -> reply text. `text` is None when audio came in
# and no transcript could be made; `audio_seconds` is 0.0 for text input.
ReplyFn = Callable[[str | None, float], "str | Awaitable[str]"]


def default_reply(text: str | None, audio_seconds: float) -> str:
    if text:
        return f"You said: {text.strip()}"
    if audio_seconds > 0:
        return f"I heard {audio_seconds:.1f} seconds of speech."
    return "I did not receive any input."
