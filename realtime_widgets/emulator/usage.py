"""Token counts and rate limits the emulator reports: rough but consistent, never zero.

~1.3 tokens per word of text, 10 audio tokens per second of input and 20 per second of output.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..protocol import BYTES_PER_SAMPLE, MAX_OUTPUT_TOKENS, SAMPLE_RATE

TEXT_TOKENS_PER_WORD = 1.3
AUDIO_TOKENS_PER_SECOND = 20


def text_tokens(text: str) -> int:
    return int(len(text.split()) * TEXT_TOKENS_PER_WORD) + 1


def audio_tokens(audio_bytes: int) -> int:
    return int(round(audio_bytes / (SAMPLE_RATE * BYTES_PER_SAMPLE) * AUDIO_TOKENS_PER_SECOND))


def output_tokens(words: int, audio_bytes: int) -> int:
    """Output tokens of a spoken reply of `words` words (its transcript) and `audio_bytes` of PCM16."""
    return int(words * TEXT_TOKENS_PER_WORD) + 1 + audio_tokens(audio_bytes)


def response_usage(
    context: Iterable[dict[str, Any]], reply: str, user_seconds: float, audio_bytes: int, text_only: bool
) -> dict[str, Any]:
    text_in = sum(
        text_tokens(p.get("text", "")) for i in context for p in i.get("content", []) if "text" in p
    )
    audio_in = int(round(user_seconds * 10))
    text_out = text_tokens(reply)
    audio_out = 0 if text_only else audio_tokens(audio_bytes)
    return {
        "total_tokens": text_in + audio_in + text_out + audio_out,
        "input_tokens": text_in + audio_in,
        "output_tokens": text_out + audio_out,
        "input_token_details": {
            "text_tokens": text_in,
            "audio_tokens": audio_in,
            "cached_tokens": 0,
            "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0},
        },
        "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out},
    }


def transcription_usage(model: str, transcript: str, seconds: float) -> dict[str, Any]:
    """whisper-1 bills by duration; the gpt-4o transcribe models (and deployments of them) by tokens."""
    if "whisper" in model:
        return {"type": "duration", "seconds": round(seconds, 3)}
    audio_in = int(round(seconds * 10))
    text_out = text_tokens(transcript)
    return {
        "type": "tokens",
        "input_tokens": audio_in,
        "output_tokens": text_out,
        "total_tokens": audio_in + text_out,
        "input_token_details": {"text_tokens": 0, "audio_tokens": audio_in},
    }


def rate_limits(used: int) -> list[dict[str, Any]]:
    return [
        {"name": "requests", "limit": 1000, "remaining": 999, "reset_seconds": 60.0},
        {"name": "tokens", "limit": 100_000, "remaining": max(0, 100_000 - used), "reset_seconds": 60.0},
    ]


def token_limit(value: Any) -> int:
    """A response's output token limit: "inf" (the default) is the service's maximum, 4,096."""
    if isinstance(value, int) and not isinstance(value, bool):
        return min(value, MAX_OUTPUT_TOKENS)
    return MAX_OUTPUT_TOKENS


def limit_words(reply: str, limit: int, seconds_per_word: float = 0.0) -> tuple[str, bool]:
    """The reply cut to the words whose tokens fit in `limit`, and whether it was cut.

    A spoken word costs its text tokens and about `seconds_per_word` of audio tokens (an estimate:
    the speech's own length is checked again while it streams).
    """
    words = reply.split()
    per_word = TEXT_TOKENS_PER_WORD + seconds_per_word * AUDIO_TOKENS_PER_SECOND
    most = max(0, int((limit - 1) / per_word))
    if len(words) > most:
        return " ".join(words[:most]), True
    return reply, False
