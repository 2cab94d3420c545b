"""`ConnectionConfig`: where to connect (Azure, OpenAI or the local emulator) and how to sign in.

Two protocols reach the same models:
- "ga": `/openai/v1/realtime?model=DEPLOYMENT` through `client.realtime` (no api-version);
- "preview": `/openai/realtime?api-version=V&deployment=DEPLOYMENT` through `client.beta.realtime`.
Secrets (`api_key`, `token_provider`) are excluded from `repr()` and from `describe()`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import re
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from . import log_redaction
from .client_secret import check_webrtc
from .errors import ConfigurationError, PreviewRetiredWarning
from .protocol import DEFAULT_CHAT_API_VERSION, DEFAULT_PREVIEW_API_VERSION, Protocol

if TYPE_CHECKING:  # pragma: no cover
    import openai

    from .emulator import Emulator

__all__ = [
    "ConnectionConfig",
    "ENTRA_SCOPE",
    "PreviewRetiredWarning",
    "entra_token_provider",
]

log = logging.getLogger(__name__)
# Every connection is made from a ConnectionConfig: redact credentials in debug logs from here on.
log_redaction.install()

ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"
DEFAULT_DEPLOYMENT = "gpt-realtime"
DEFAULT_CHAT_DEPLOYMENT = "gpt-4o-audio-preview"
_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
_PORTAL = {
    "AZURE_OPENAI_ENDPOINT": "Azure portal → your Azure OpenAI resource → Keys and Endpoint",
    "AZURE_OPENAI_DEPLOYMENT_NAME": "Azure AI Foundry portal → Deployments (the deployment name)",
    "AZURE_OPENAI_API_KEY": "Azure portal → your Azure OpenAI resource → Keys and Endpoint",
    "OPENAI_API_VERSION": "the model's page in Azure AI Foundry (e.g. 2025-04-01-preview)",
    "AZURE_OPENAI_AUDIO_DEPLOYMENT_NAME": "Azure AI Foundry portal → Deployments (your gpt-4o-audio-preview deployment)",
}
# The audio chat completions deployment (speak, AudioChat, evaluate_clips), beside the realtime one.
CHAT_DEPLOYMENT_VARIABLE = "AZURE_OPENAI_AUDIO_DEPLOYMENT_NAME"


PREVIEW_RETIRED = (
    "Azure retired the preview realtime API (/openai/realtime?api-version=...) on 30 April 2026; "
    "use the GA protocol, the default (protocol='ga', /openai/v1/realtime?model=...); see Azure's "
    "realtime audio preview API migration guide"
)
_preview_warned = False


def _warn_preview_retired() -> None:
    """One line per process, pointing at the caller's code rather than this package."""
    global _preview_warned
    if _preview_warned:
        return
    _preview_warned = True
    package = os.path.dirname(os.path.abspath(__file__))
    frame: FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and (
        os.path.abspath(frame.f_code.co_filename).startswith(package)
        or frame.f_code.co_filename == "<string>"
    ):
        frame = frame.f_back
        level += 1
    warnings.warn(PREVIEW_RETIRED, PreviewRetiredWarning, stacklevel=level + 1)


def _missing(variable: str, why: str) -> ConfigurationError:
    return ConfigurationError(f"{why}: set {variable} (find it in {_PORTAL[variable]}).")


_announced = False


# --- helpers -----------------------------------------------------------------------------------


def _normalise_endpoint(endpoint: str, variable: str = "AZURE_OPENAI_ENDPOINT") -> str:
    endpoint = endpoint.strip()
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            f"{variable}={endpoint!r} is not a URL like https://RESOURCE.openai.azure.com "
            f"(find it in {_PORTAL['AZURE_OPENAI_ENDPOINT']})."
        )
    path = parts.path.rstrip("/")
    # People paste the URL of a sample; keep only the resource root.
    for suffix in ("/openai/v1", "/openai", "/openai/realtime", "/openai/v1/realtime"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return f"{parts.scheme}://{parts.netloc}{path}"


def _infer_protocol(api_version: str | None, deployment: str) -> Protocol:
    if api_version and api_version not in ("v1", "latest", "preview"):
        return "preview"
    if "realtime-preview" in deployment or deployment.endswith("-preview"):
        return "preview"
    return "ga"


def entra_token_provider() -> Callable[[], str]:
    """azure-identity's bearer token provider for keyless (Entra ID) sign-in, scope `ENTRA_SCOPE`."""
    try:
        from azure.identity import DefaultAzureCredential, get_bearer_token_provider
    except ImportError as exc:  # pragma: no cover - azure-identity is a dependency
        raise ConfigurationError(
            "No AZURE_OPENAI_API_KEY is set and azure-identity is not installed for keyless sign-in: "
            "pip install azure-identity, or set AZURE_OPENAI_API_KEY "
            f"(find it in {_PORTAL['AZURE_OPENAI_API_KEY']})."
        ) from exc
    return get_bearer_token_provider(DefaultAzureCredential(), ENTRA_SCOPE)


def _async_provider(provider: Callable[[], str]) -> Callable[[], Any]:
    """AsyncOpenAI wants an async api_key callable; azure-identity's provider blocks, so use a thread."""

    async def get_token() -> str:
        return await asyncio.to_thread(provider)

    return get_token


@dataclass
class ConnectionConfig:
    endpoint: str | None = None
    deployment: str = DEFAULT_DEPLOYMENT
    protocol: Protocol = "ga"
    api_version: str | None = None
    api_key: str | None = field(default=None, repr=False)
    token_provider: Callable[[], str] | None = field(default=None, repr=False)
    is_emulator: bool = False
    chat_deployment: str = DEFAULT_CHAT_DEPLOYMENT
    chat_api_version: str = DEFAULT_CHAT_API_VERSION
    # Audio chat completions path: Azure's deployments path (the quickstarts) or /openai/v1.
    chat_path: Literal["deployments", "v1"] = "deployments"
    max_retries: int = 2  # HTTP retries of the SDK (429 / 5xx), honouring Retry-After

    def __post_init__(self) -> None:
        if self.protocol not in ("ga", "preview"):
            raise ValueError(f"protocol={self.protocol!r} is not allowed; choose 'ga' or 'preview'")
        if self.chat_path not in ("deployments", "v1"):
            raise ValueError(f"chat_path={self.chat_path!r} is not allowed; choose 'deployments' or 'v1'")
        if not isinstance(self.deployment, str) or not self.deployment.strip():
            raise _missing("AZURE_OPENAI_DEPLOYMENT_NAME", "The deployment name is empty")
        if self.endpoint is not None:
            self.endpoint = _normalise_endpoint(self.endpoint)
        if self.protocol == "preview":
            if self.endpoint is None:
                raise ConfigurationError(
                    "protocol='preview' is Azure's api-version path and needs AZURE_OPENAI_ENDPOINT "
                    f"(find it in {_PORTAL['AZURE_OPENAI_ENDPOINT']}); use protocol='ga' for api.openai.com."
                )
            if self.api_version is None:
                self.api_version = DEFAULT_PREVIEW_API_VERSION
            _warn_preview_retired()
        for name in ("api_version", "chat_api_version"):
            value = getattr(self, name)
            if value is not None and name == "api_version" and self.protocol == "ga":
                continue  # GA ignores api-version; do not reject a shared OPENAI_API_VERSION
            if value is not None and not _API_VERSION.match(value):
                raise ConfigurationError(
                    f"{name}={value!r} is not an api-version like 2025-04-01-preview "
                    f"(set OPENAI_API_VERSION; see {_PORTAL['OPENAI_API_VERSION']})."
                )
        log_redaction.remember_secret(self.api_key)
        if self.api_key is not None and self.token_provider is not None:
            raise ConfigurationError(
                "Both an API key and an Entra ID token provider are set; use one: unset AZURE_OPENAI_API_KEY "
                "for keyless sign-in, or pass token_provider=None."
            )

    # --- construction ----------------------------------------------------------------------

    @classmethod
    def from_env(cls, protocol: Protocol | None = None, **overrides: Any) -> ConnectionConfig:
        """Settings from AZURE_OPENAI_* variables; the local emulator when no endpoint is set.

        - AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_DEPLOYMENT_NAME (required with an endpoint),
          OPENAI_API_VERSION (preview protocol), AZURE_OPENAI_API_KEY (else keyless Entra ID).
        - AZURE_OPENAI_AUDIO_DEPLOYMENT_NAME: the audio chat completions deployment
          (default gpt-4o-audio-preview), whatever the endpoint.
        - OPENAI_API_KEY alone: api.openai.com.
        - nothing: the shared in-process emulator (one line says so).
        `overrides` replace any field (e.g. deployment="my-realtime").
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise TypeError(
                f"ConnectionConfig has no field(s) {', '.join(unknown)}; fields: {', '.join(sorted(names))}"
            )
        env = os.environ
        chat_deployment = env.get(CHAT_DEPLOYMENT_VARIABLE, "").strip()
        if chat_deployment and "chat_deployment" not in overrides:
            overrides["chat_deployment"] = chat_deployment
        endpoint = overrides.pop("endpoint", None) or env.get("AZURE_OPENAI_ENDPOINT") or None
        api_version = overrides.pop("api_version", None) or env.get("OPENAI_API_VERSION") or None
        if endpoint is None:
            openai_key = env.get("OPENAI_API_KEY")
            if openai_key and not overrides.get("is_emulator"):
                fields: dict[str, Any] = {
                    "endpoint": None,
                    "deployment": env.get("AZURE_OPENAI_DEPLOYMENT_NAME") or DEFAULT_DEPLOYMENT,
                    "protocol": protocol or "ga",
                    "api_key": openai_key,
                    "chat_path": "v1",
                }
                fields.update(overrides)
                return cls(**fields)
            config = cls.for_emulator(protocol=protocol or _infer_protocol(api_version, ""))
            msg = f"realtime_widgets: no AZURE_OPENAI_ENDPOINT set — using the local emulator at {config.endpoint}"
            global _announced
            if not _announced:  # one line per process, not one per session
                _announced = True
                print(msg)
            log.info(msg)
            return dataclasses.replace(config, **overrides) if overrides else config
        deployment = overrides.pop("deployment", None) or env.get("AZURE_OPENAI_DEPLOYMENT_NAME")
        if not deployment:
            raise _missing(
                "AZURE_OPENAI_DEPLOYMENT_NAME",
                f"AZURE_OPENAI_ENDPOINT is {endpoint} but no deployment is named",
            )
        chosen = protocol or overrides.pop("protocol", None) or _infer_protocol(api_version, deployment)
        api_key = overrides.pop("api_key", None) or env.get("AZURE_OPENAI_API_KEY") or None
        provider = overrides.pop("token_provider", None)
        if api_key is None and provider is None:
            provider = entra_token_provider()
        return cls(
            endpoint=endpoint,
            deployment=deployment,
            protocol=chosen,
            api_version=api_version if chosen == "preview" else None,
            api_key=api_key,
            token_provider=provider,
            **overrides,
        )

    @classmethod
    def for_emulator(cls, emulator: Emulator | None = None, protocol: Protocol = "ga") -> ConnectionConfig:
        """Settings for an `Emulator` (`Emulator.shared()`, the in-process one, when `emulator` is None)."""
        if emulator is None:
            from .emulator import Emulator

            emulator = Emulator.shared()
        return cls(
            endpoint=emulator.endpoint,
            deployment=emulator.deployment,
            protocol=protocol,
            api_version=DEFAULT_PREVIEW_API_VERSION if protocol == "preview" else None,
            api_key=emulator.api_key,
            is_emulator=True,
        )

    def replace(self, **changes: Any) -> ConnectionConfig:
        """A validated copy with `changes` applied."""
        return dataclasses.replace(self, **changes)

    # --- clients ----------------------------------------------------------------------------

    @property
    def _ws_root(self) -> str:
        assert self.endpoint is not None
        return re.sub(r"^http", "ws", self.endpoint)

    def _azure_auth(self) -> dict[str, Any]:
        if self.api_key is not None:
            return {"api_key": self.api_key}
        if self.token_provider is not None:
            return {"azure_ad_token_provider": self.token_provider}
        raise _missing("AZURE_OPENAI_API_KEY", "No API key and no Entra ID token provider")

    def async_client(self) -> openai.AsyncOpenAI | openai.AsyncAzureOpenAI:
        """The SDK client for the realtime WebSocket (and any other async call)."""
        import openai

        if self.protocol == "ga":
            key: Any = self.api_key if self.api_key is not None else None
            if key is None and self.token_provider is not None:
                key = _async_provider(self.token_provider)
            if key is None:
                raise _missing("AZURE_OPENAI_API_KEY", "No API key and no Entra ID token provider")
            if self.endpoint is None:
                return openai.AsyncOpenAI(api_key=key)
            return openai.AsyncOpenAI(
                api_key=key,
                base_url=f"{self.endpoint}/openai/v1",
                websocket_base_url=f"{self._ws_root}/openai/v1",
            )
        extra: dict[str, Any] = {}
        if self.endpoint and self.endpoint.startswith("http://"):
            # The SDK forces wss:// unless told otherwise; a local emulator speaks plain ws://.
            extra["websocket_base_url"] = f"{self._ws_root}/openai"
        return openai.AsyncAzureOpenAI(
            azure_endpoint=self.endpoint or "",
            api_version=self.api_version,
            **self._azure_auth(),
            **extra,
        )

    def realtime_connect(
        self, client: Any, *, intent: str | None = None, call_id: str | None = None, **kw: Any
    ) -> Any:
        """The SDK's realtime connection manager (`async with config.realtime_connect(client) as conn`).

        `intent="transcription"` opens a transcription session (`?intent=transcription` on the URL);
        the deployment stays on the URL too, since the SDK's Azure path requires it. `call_id` joins
        a live WebRTC call instead (the sideband `?call_id=`; GA only): the call names its model.
        """
        if call_id is not None:
            check_webrtc(self)
            return client.realtime.connect(call_id=call_id, **kw)
        if intent is not None:
            kw["extra_query"] = {**(kw.get("extra_query") or {}), "intent": intent}
        if self.protocol == "ga":
            return client.realtime.connect(model=self.deployment, **kw)
        return client.beta.realtime.connect(model=self.deployment, **kw)

    def _chat_client_args(self, asynchronous: bool) -> tuple[Literal["openai", "azure"], dict[str, Any]]:
        """Which client class audio chat completions need, and its arguments."""
        if self.endpoint is None:  # api.openai.com
            return "openai", {"api_key": self.api_key, "max_retries": self.max_retries}
        if self.chat_path == "v1":
            key: Any = self.api_key
            if key is None and self.token_provider is not None:
                key = _async_provider(self.token_provider) if asynchronous else self.token_provider
            if key is None:
                raise _missing("AZURE_OPENAI_API_KEY", "No API key and no Entra ID token provider")
            return "openai", {
                "api_key": key,
                "base_url": f"{self.endpoint}/openai/v1",
                "max_retries": self.max_retries,
            }
        return "azure", {
            "azure_endpoint": self.endpoint,
            "api_version": self.chat_api_version,
            "max_retries": self.max_retries,
            **self._azure_auth(),
        }

    def sync_client(self) -> openai.OpenAI | openai.AzureOpenAI:
        """Client for audio chat completions (blocking)."""
        import openai

        kind, kwargs = self._chat_client_args(asynchronous=False)
        return openai.AzureOpenAI(**kwargs) if kind == "azure" else openai.OpenAI(**kwargs)

    def chat_async_client(self) -> openai.AsyncOpenAI | openai.AsyncAzureOpenAI:
        """Client for audio chat completions (async)."""
        import openai

        kind, kwargs = self._chat_client_args(asynchronous=True)
        return openai.AsyncAzureOpenAI(**kwargs) if kind == "azure" else openai.AsyncOpenAI(**kwargs)

    # --- display ---------------------------------------------------------------------------

    @property
    def auth_kind(self) -> str:
        if self.is_emulator:
            return "emulator key"
        if self.api_key is not None:
            return "API key"
        return "Entra ID" if self.token_provider is not None else "no credentials"

    def describe(self) -> str:
        """One line for people: where, which deployment, which protocol — never a secret."""
        if self.is_emulator:
            where = f"emulator at {self.endpoint}"
        elif self.endpoint is None:
            where = "OpenAI at api.openai.com"
        else:
            where = f"Azure OpenAI at {self.endpoint}"
        proto = "GA" if self.protocol == "ga" else f"preview (api-version {self.api_version})"
        text = f"{where} · deployment {self.deployment} · {proto}"
        if not self.is_emulator:
            text += f" · {self.auth_kind}"
        return text

    def _repr_html_(self) -> str:
        import html

        return f"<code>ConnectionConfig</code>: {html.escape(self.describe())}"
