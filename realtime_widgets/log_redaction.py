"""Credentials never reach a log record: API keys, bearer tokens and ephemeral `ek_` keys are replaced by a mark.

At DEBUG, the libraries under the package's connections write request headers: `websockets.client`
logs `> Authorization: Bearer <key or Entra token>` and `> api-key: <key>` for each handshake;
httpx, httpcore, openai, azure-core, aiohttp and msal may log headers, request options or token
responses. A logger's own filters do not see its children's records, and the handlers belong to the
user, so the redaction sits in the log record factory: every record of those loggers is redacted
when it is made, before any handler or formatter (pytest's caplog included) sees it.

`install()` is idempotent and chains to the factory already in place; `config.py` calls it on
import, so it is in place before the package opens any connection.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["REDACTED", "install", "redact", "remember_secret"]

REDACTED = "[REDACTED]"

# Loggers of the libraries the package connects through, and the package's own.
LOGGER_PREFIXES = (
    "websockets",
    "httpx",
    "httpx2",
    "httpcore",
    "httpcore2",
    "openai",
    "agents",
    "azure",
    "msal",
    "aiohttp",
    "urllib3",
    "requests",
    "realtime_widgets",
)

_HEADER_NAMES = (
    r"authorization|proxy-authorization|api-key|x-api-key|ocp-apim-subscription-key|x-identity-header"
)
# `Authorization: Bearer abc`, `'api-key': 'abc'`, `"Authorization": "Bearer abc"`, `api-key=abc`:
# the name (and an auth scheme) stay, the value goes.
_HEADER = re.compile(
    rf"""(?P<name>["']?(?:{_HEADER_NAMES})["']?\s*[:=]\s*["']?(?:(?:bearer|basic)\s+)?)(?P<value>[^\s"',}}\]]+)""",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?P<name>\bbearer\s+)(?P<value>[A-Za-z0-9._~+/=-]{8,})", re.IGNORECASE)
_TOKEN_FIELD = re.compile(
    r"""(?P<name>["']?(?:access_token|refresh_token|id_token|client_secret)["']?\s*[:=]\s*["']?)(?P<value>[^\s"',}]+)""",
    re.IGNORECASE,
)
# An ephemeral key minted for a WebRTC page (`client_secrets`): short-lived, still a credential.
_EPHEMERAL_KEY = re.compile(r"\bek_[A-Za-z0-9_-]{8,}")
_MIN_SECRET = 8  # shorter values are not remembered: too likely to occur in ordinary text

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()
_installed: Callable[..., logging.LogRecord] | None = None


def remember_secret(value: object) -> None:
    """Redact this exact value too, wherever it appears (an API key in a URL or an error message)."""
    global _secrets
    if isinstance(value, str) and len(value) >= _MIN_SECRET:
        with _lock:
            _secrets = _secrets | {value}


def _mark(match: re.Match[str]) -> str:
    return match["name"] + (match["value"] if match["value"] == REDACTED else REDACTED)


def redact(text: str) -> str:
    """`text` with credential header values, bearer tokens and remembered secrets replaced."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _HEADER.sub(_mark, text)
    text = _BEARER.sub(_mark, text)
    text = _EPHEMERAL_KEY.sub(REDACTED, text)
    return _TOKEN_FIELD.sub(_mark, text)


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a malformed record is the logging module's to report, not ours
        return
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, ()


def install() -> None:
    """Redact every record of the watched loggers from now on (safe to call more than once)."""
    global _installed
    with _lock:
        if _installed is not None and logging.getLogRecordFactory() is _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if record.name.split(".", 1)[0] in LOGGER_PREFIXES:
                _redact_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = factory
