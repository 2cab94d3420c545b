"""`ClientSecret`: the ephemeral key a page uses to open a WebRTC call, minted in the kernel.

The kernel holds the API key or the Entra token; it asks the service for a short-lived `ek_...` key
bound to a session config (`POST {endpoint}/openai/v1/realtime/client_secrets`, through the official
SDK's `client.realtime.client_secrets.create`). Only that key travels to the page, which posts its
SDP offer to `calls_url` with it. WebRTC exists on the GA protocol only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import log_redaction
from .errors import ConfigurationError, explain_connect_error
from .session_config import SessionConfig

if TYPE_CHECKING:  # pragma: no cover
    from .config import ConnectionConfig

__all__ = ["ClientSecret", "check_webrtc", "create_client_secret"]

# The service's documented range for `expires_after.seconds` (default 600).
MIN_EXPIRY_S, MAX_EXPIRY_S = 10, 7200
OPENAI_CALLS_URL = "https://api.openai.com/v1/realtime/calls"


@dataclass(frozen=True)
class ClientSecret:
    """An ephemeral key for one WebRTC call; `value` is never shown (not in repr, redacted in logs)."""

    value: str = field(repr=False)
    expires_at: float  # unix seconds
    calls_url: str  # where the page POSTs its SDP offer with this key

    @property
    def expires_in(self) -> float:
        """Seconds left before the service refuses this key (negative once expired)."""
        return self.expires_at - time.time()


def check_webrtc(connection: Any, config: Any = None) -> None:
    """What every WebRTC path needs, with one wording for the key, the sideband join and its socket:
    the GA protocol (`connection=None`, the environment's, is checked when resolved) and a realtime
    session (a WebRTC call is speech to speech; a transcription session has no call)."""
    if getattr(connection, "protocol", "ga") != "ga":
        raise ConfigurationError(
            "WebRTC needs the GA protocol (/openai/v1/realtime): the preview protocol has no client "
            "secrets, calls or sideband. Use ConnectionConfig(protocol='ga')."
        )
    if config is not None and not isinstance(config, SessionConfig):
        raise TypeError(f"config must be a SessionConfig, got {type(config).__name__}")
    if config is not None and config.is_transcription:
        raise ConfigurationError(
            "A WebRTC call carries a realtime (speech-to-speech) session, not a transcription one; "
            "use SessionConfig(type='realtime')."
        )


def calls_url(connection: ConnectionConfig, filtered: bool) -> str:
    """The calls endpoint; Azure's `webrtcfilter=on` keeps prompts, tools and config off the page."""
    if connection.endpoint is None:  # api.openai.com has no filter parameter
        return OPENAI_CALLS_URL
    url = f"{connection.endpoint}/openai/v1/realtime/calls"
    return url + "?webrtcfilter=on" if filtered else url


async def create_client_secret(
    connection: ConnectionConfig,
    config: SessionConfig | None = None,
    *,
    expires_after: int = 600,
    filtered: bool = True,
) -> ClientSecret:
    """Mint an ephemeral key whose call starts with `config` (the deployment is the model).

    `expires_after` is in seconds (10 to 7200). `filtered=True` makes `calls_url` ask Azure to send the
    page only the short list of WebRTC events; a sideband `RealtimeSession(call_id=...)` sees them all.
    """
    check_webrtc(connection, config)
    config = config if config is not None else SessionConfig()
    if isinstance(expires_after, bool) or not isinstance(expires_after, int):
        raise TypeError(f"expires_after is whole seconds, got {expires_after!r}")
    if not MIN_EXPIRY_S <= expires_after <= MAX_EXPIRY_S:
        raise ValueError(
            f"expires_after={expires_after}: the service accepts {MIN_EXPIRY_S} to {MAX_EXPIRY_S} seconds"
        )
    session: dict[str, Any] = {**config.to_session("ga"), "model": connection.deployment}
    client = connection.async_client()
    try:
        answer = await client.realtime.client_secrets.create(
            session=session,  # type: ignore[arg-type]
            expires_after={"anchor": "created_at", "seconds": expires_after},
        )
    except Exception as exc:
        raise explain_connect_error(exc, connection) from exc
    finally:
        await client.close()
    log_redaction.remember_secret(answer.value)
    return ClientSecret(answer.value, float(answer.expires_at), calls_url(connection, filtered))
