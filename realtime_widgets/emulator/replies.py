"""Deterministic replies that say what they are (no language model here).

The rules, first match wins (the table is also in docs/emulator-fidelity.md):

1. The instructions say a quoted text (`Say "Welcome back."`): that text.
2. The instructions ask to read, repeat or say the user's words verbatim ("Read the user's message
   aloud exactly as written", what `speak()` sends): the user's words, as they are.
3. Audio came with a request about it: "transcribe" gives the words heard; "describe" (or
   "what is in", "summarise", "analyse") gives a sentence about the recording and its words.
4. Otherwise the reply says what came in: "You said: …", "I heard N seconds of speech.", or
   "I did not receive any input."

`Emulator(reply=fn)` replaces all of this with `fn(text_or_None, audio_seconds)`.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

# fn(user_text_or_transcript, audio_seconds) -> reply text. `text` is None when audio came in
# and no transcript could be made; `audio_seconds` is 0.0 for text input.
ReplyFn = Callable[[str | None, float], "str | Awaitable[str]"]

_SPEAK = r"\b(?:read|repeat|say|speak|recite|echo)\b"
_QUOTED = re.compile(_SPEAK + r"[^\"“”]{0,40}?[:\s][\"“](?P<text>[^\"“”]+)[\"”]", re.IGNORECASE)
_VERBATIM = re.compile(
    r"\b(?:aloud|out loud|verbatim|exactly|word for word|as written|after me)\b", re.IGNORECASE
)
_TRANSCRIBE = re.compile(r"\b(?:transcribe|transcript|transcription|write down)", re.IGNORECASE)
_DESCRIBE = re.compile(
    r"\b(?:describe|description|what is in|what's in|summari[sz]e|analy[sz]e)", re.IGNORECASE
)


@dataclass(frozen=True)
class Prompt:
    """What a reply answers."""

    instructions: str = ""  # system / developer messages, or the session's or response's instructions
    text: str | None = None  # the user's typed words
    heard: str | None = None  # the words recognised in the user's audio (None: none or not recognised)
    audio_seconds: float = 0.0  # how much audio the user sent (0.0: none)

    @property
    def said(self) -> str | None:
        """The user's words: what they typed, or with audio, what was heard in it."""
        return self.heard if self.audio_seconds > 0 else self.text


def default_reply(text: str | None, audio_seconds: float) -> str:
    if text:
        return f"You said: {text.strip()}"
    if audio_seconds > 0:
        return f"I heard {audio_seconds:.1f} seconds of speech."
    return "I did not receive any input."


def rule_reply(prompt: Prompt) -> str:
    """The emulator's own reply to `prompt` (the rules above)."""
    instructions = prompt.instructions or ""
    quoted = _QUOTED.search(instructions)
    if quoted:
        return quoted["text"].strip()
    about_audio = prompt.text if prompt.audio_seconds > 0 else None
    if prompt.said and _asks_verbatim(instructions, about_audio):
        return prompt.said.strip()
    if about_audio and _TRANSCRIBE.search(about_audio):
        return prompt.heard or "I could not make out any words."
    if about_audio and _DESCRIBE.search(about_audio):
        length = f"{prompt.audio_seconds:.1f} seconds of speech"
        if prompt.heard:
            return f"The recording is {length}. It says: “{prompt.heard.strip()}”"
        return f"The recording is {length}; I could not make out the words."
    return default_reply(prompt.said, prompt.audio_seconds)


def _asks_verbatim(*requests: str | None) -> bool:
    return any(r and re.search(_SPEAK, r, re.IGNORECASE) and _VERBATIM.search(r) for r in requests)


async def reply_for(fn: ReplyFn, prompt: Prompt) -> str:
    """The reply text: the rules when `fn` is the default, else what `fn` says; on one line."""
    if fn is default_reply:
        result: object = rule_reply(prompt)
    else:
        result = fn(prompt.said or None, prompt.audio_seconds)
        if inspect.isawaitable(result):
            result = await result
    return " ".join(str(result).split())
