"""Exceptions whose messages say what to check, and the one warning this package gives.

The tree (every class is exported by `realtime_widgets`, and tests/test_exported_members.py checks it):

    RealtimeWidgetsError                  base of every error this package raises on purpose
    ├── ConfigurationError                a setting is missing or malformed
    │   └── UnknownModelPrices            no token prices known for a model: pass `prices=`
    ├── AudioInputError (+ ValueError)    audio that cannot be sent as given
    ├── CallAudioError (+ RuntimeError)   kernel audio sent to a WebRTC call (it travels on the call's track)
    ├── ConnectionFailed                  the service refused the connection or request (.status, .retry_after)
    │   └── WebRTCCallFailed              the page's WebRTC call did not connect (.reason); offers the WebSocket
    ├── ServerError                       an `error` event from the server (.code, .param, .event)
    │   ├── SessionUpdateError            a rejected `session.update`; the previous settings stay
    │   └── CassetteMismatch              a replayed run left its cassette (names the turn; re-record)
    ├── SessionClosed                     the WebSocket closed (.code, .reason, .restored)
    └── RequestTimeout (+ TimeoutError)   a call's answer did not come in time (.awaited, .timeout)

    FutureWarning
    └── PreviewRetiredWarning             the retired preview realtime protocol was chosen

Every message is written for the person at the notebook: which setting, which portal page, which
role. No message ever contains a key or a token (`_scrub` removes the configured secret from any
server text that is quoted). The `explain_*` helpers read the connection through `ServiceTarget`,
a Protocol that `ConnectionConfig` satisfies, so this module imports nothing from the package.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover
    import openai

__all__ = [
    "AudioInputError",
    "CallAudioError",
    "ConfigurationError",
    "ConnectionFailed",
    "PreviewRetiredWarning",
    "RealtimeWidgetsError",
    "RequestTimeout",
    "ServerError",
    "ServiceTarget",
    "SessionClosed",
    "SessionUpdateError",
    "UnknownModelPrices",
    "WebRTCCallFailed",
    "explain_connect_error",
    "explain_handshake",
    "explain_http_error",
]


class ServiceTarget(Protocol):
    """What an explanation reads about the connection (`ConnectionConfig` is one)."""

    @property
    def api_key(self) -> str | None: ...

    @property
    def deployment(self) -> str: ...

    @property
    def protocol(self) -> str: ...

    @property
    def api_version(self) -> str | None: ...

    def describe(self) -> str: ...


class PreviewRetiredWarning(FutureWarning):
    """The preview realtime protocol was chosen; Azure retired it on 30 April 2026."""


class RealtimeWidgetsError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigurationError(RealtimeWidgetsError):
    """A setting is missing or malformed; the message names the variable and where to find it."""


class UnknownModelPrices(ConfigurationError):
    """No token prices are known for the model: the message says how to pass `prices=`."""


class AudioInputError(RealtimeWidgetsError, ValueError):
    """Audio that cannot be sent as given (too large, empty, undecodable)."""


class CallAudioError(RealtimeWidgetsError, RuntimeError):
    """Audio given to a session joined to a WebRTC call (`call_id=`): the microphone reaches the
    service on the call's track, so the kernel cannot append to it (`tap_audio` records a copy)."""


class ConnectionFailed(RealtimeWidgetsError):
    """The service refused the connection or the request (HTTP status in `.status`)."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class WebRTCCallFailed(ConnectionFailed):
    """The page's WebRTC call did not connect (`.reason`: the page's words, e.g. ICE found no path);
    the message offers `RealtimeConsole(transport='websocket')`, which needs no UDP."""

    def __init__(self, message: str, *, reason: str = ""):
        super().__init__(message)
        self.reason = reason


class ServerError(RealtimeWidgetsError):
    """An `error` event from the server (`.code`, `.param`, and the whole `.event`)."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        event: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.param = param
        self.event = event or {}

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> ServerError:
        """Build from an `error` server event (dict as on the wire)."""
        err = event.get("error") or {}
        code = err.get("code") or err.get("type")
        message = err.get("message") or "the server reported an error without a message"
        param = err.get("param")
        text = f"{message} (code: {code}" + (f", param: {param})" if param else ")")
        if cls is ServerError and code == CassetteMismatch.CODE:
            return CassetteMismatch(text, code=code, param=param, event=dict(event))
        return cls(text, code=code, param=param, event=dict(event))


class SessionUpdateError(ServerError):
    """The server rejected a `session.update`; the previous session settings stay in effect."""


class CassetteMismatch(ServerError):
    """A run replayed from a cassette sent something the recording did not: the message names the
    turn and the difference. Re-record (`record_mode="all"`) when the change is meant."""

    CODE = "cassette_mismatch"


class SessionClosed(RealtimeWidgetsError):
    """The WebSocket closed (`.code`, `.reason`); the conversation recorded so far is kept."""

    def __init__(
        self, message: str, *, code: int | None = None, reason: str = "", restored: bool | None = None
    ):
        super().__init__(message)
        self.code = code
        self.reason = reason
        # For a call that was waiting when its connection went: whether a reconnect brought the
        # session back (the call's request was lost with the old connection); None: not known.
        self.restored = restored


class RequestTimeout(RealtimeWidgetsError, TimeoutError):
    """A call waited `.timeout` s for `.awaited` (an event name) and it did not come.

    The message says what was awaited and what was done about it (a running response is cancelled).
    """

    def __init__(self, message: str, *, awaited: str, timeout: float):
        super().__init__(message)
        self.awaited = awaited
        self.timeout = timeout


# --- explaining HTTP statuses ------------------------------------------------------------------


def _scrub(text: str, config: ServiceTarget | None) -> str:
    secret = config.api_key if config is not None else None
    if secret and secret in text:
        text = text.replace(secret, "***")
    return text


def _server_message(body: str | bytes | None) -> str:
    """The `error.message` of a JSON body, else the first 300 characters of the body."""
    if body is None:
        return ""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return body.strip()[:300]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict) and err.get("message"):
            code = err.get("code")
            return str(err["message"]) + (f" (code: {code})" if code else "")
        if isinstance(err, str):
            return err
    return body.strip()[:300]


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    if not headers:
        return None
    lower = {str(k).lower(): v for k, v in dict(headers).items()}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = lower.get(name)
        if value is None:
            continue
        try:
            return float(value) * scale
        except ValueError:
            continue
    return None


def _what_to_check(status: int, config: ServiceTarget | None, retry_after: float | None) -> str:
    deployment = config.deployment if config is not None else "?"
    protocol = config.protocol if config is not None else "ga"
    api_version = config.api_version if config is not None else None
    keyless = config is not None and not config.api_key
    if status == 401:
        if keyless:
            return (
                "Authentication failed. Keyless (Entra ID) sign-in produced no valid token: run `az login` "
                "(or set up a managed identity) and check that the token scope is "
                "https://cognitiveservices.azure.com/.default. To use a key instead, set "
                "AZURE_OPENAI_API_KEY (Azure portal → your Azure OpenAI resource → Keys and Endpoint)."
            )
        return (
            "Authentication failed: the API key was not accepted. Check that AZURE_OPENAI_API_KEY is a key "
            "of this very resource (Azure portal → your Azure OpenAI resource → Keys and Endpoint) and "
            "that AZURE_OPENAI_ENDPOINT points at the same resource."
        )
    if status == 403:
        return (
            "Access denied. With keyless Entra ID, your identity needs the role "
            "'Cognitive Services User' (or 'Cognitive Services OpenAI User') on the resource "
            "(Azure portal → resource → Access control (IAM)); role assignments take a few minutes. "
            "Also check the resource's network rules (Networking → firewall / private endpoint)."
        )
    if status == 404:
        version = (
            f"api-version '{api_version}' (OPENAI_API_VERSION)"
            if protocol == "preview"
            else "protocol: GA uses /openai/v1 without api-version"
        )
        return (
            f"Not found. Check the deployment name '{deployment}' (AZURE_OPENAI_DEPLOYMENT_NAME; Azure AI "
            f"Foundry portal → Deployments — the deployment name, not the model name), the {version}, and "
            "that the model is deployed in this resource's region."
        )
    if status == 429:
        wait = f"Retry after {retry_after:g} s. " if retry_after is not None else ""
        return (
            f"Rate limited or out of quota. {wait}Check the deployment's tokens-per-minute and "
            "requests-per-minute quota (Azure AI Foundry portal → Deployments → your deployment, or "
            "Quotas), or wait and retry."
        )
    if status == 400:
        return (
            f"Bad request. Check the protocol ('{protocol}') matches the deployment: GA models "
            "(gpt-realtime) use protocol='ga' (/openai/v1, no api-version, no OpenAI-Beta header); older "
            "preview deployments need protocol='preview' and a realtime api-version "
            "(OPENAI_API_VERSION, e.g. 2025-04-01-preview) and reject `session.type`."
        )
    if status == 413:
        return "The request is too large: audio chat completions accept at most 20 MB of audio per request."
    if status >= 500:
        return "The service had an internal error or is overloaded; retry in a moment."
    return "Unexpected response from the service."


def explain_handshake(
    status: int,
    body: str | bytes | None,
    config: ServiceTarget | None,
    headers: Mapping[str, str] | None = None,
) -> ConnectionFailed:
    """A `ConnectionFailed` for a refused WebSocket handshake or HTTP request with `status`."""
    retry_after = _retry_after(headers)
    where = config.describe() if config is not None else "the service"
    server = _scrub(_server_message(body), config)
    message = f"HTTP {status} from {where}. {_what_to_check(status, config, retry_after)}"
    if server:
        message += f" Server said: {server}"
    return ConnectionFailed(message, status=status, retry_after=retry_after)


def explain_http_error(exc: openai.APIStatusError, config: ServiceTarget | None) -> RealtimeWidgetsError:
    """Translate an openai SDK HTTP error into a `ConnectionFailed` that says what to check."""
    response = getattr(exc, "response", None)
    headers = dict(response.headers) if response is not None else None
    body: Any = getattr(exc, "body", None)
    if isinstance(body, dict):
        body = json.dumps({"error": body} if "message" in body else body)
    elif body is None and response is not None:
        try:
            body = response.text
        except Exception:  # a streamed response may not be readable any more
            body = None
    status = int(getattr(exc, "status_code", 0) or 0)
    err = explain_handshake(status, body if isinstance(body, (str, bytes)) else str(exc), config, headers)
    err.__cause__ = exc
    return err


def explain_connect_error(exc: BaseException, config: ServiceTarget | None) -> RealtimeWidgetsError:
    """Translate whatever opening the WebSocket raised (websockets `InvalidStatus`, OSError, SDK errors).

    Returns the original error wrapped in a `ConnectionFailed` when nothing better is known.
    """
    if isinstance(exc, RealtimeWidgetsError):
        return exc
    status_code = getattr(exc, "status_code", None)
    if isinstance(status_code, int):  # openai.APIStatusError (first: its httpx response has no .body)
        return explain_http_error(exc, config)  # type: ignore[arg-type]
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if response is not None and status is not None:  # websockets.exceptions.InvalidStatus
        err = explain_handshake(int(status), getattr(response, "body", b""), config, response.headers)
        err.__cause__ = exc
        return err
    where = config.describe() if config is not None else "the service"
    if isinstance(exc, OSError):
        message = (
            f"Could not reach {where}: {exc}. Check AZURE_OPENAI_ENDPOINT (Azure portal → your Azure "
            "OpenAI resource → Keys and Endpoint), your network and proxy settings."
        )
    else:
        message = f"Connecting to {where} failed: {_scrub(str(exc), config)}"
    err = ConnectionFailed(message)
    err.__cause__ = exc
    return err
