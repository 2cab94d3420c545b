"""ConnectionConfig: environment variables, auth wiring, the emulator default, secrets, errors.

Connections go through the official openai SDK against the in-process emulator.
"""

from __future__ import annotations

import pytest

from realtime_widgets import config as config_module
from realtime_widgets.config import ENTRA_SCOPE, ConnectionConfig
from realtime_widgets.errors import ConfigurationError, ConnectionFailed, explain_connect_error

SECRET = "sk-TOPSECRET-0123456789"


@pytest.fixture
def azure_env(monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://myres.openai.azure.com/")
    monkeypatch.setenv("AZURE_OPENAI_DEPLOYMENT_NAME", "my-realtime")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", SECRET)
    return monkeypatch


async def test_from_env_azure_key_ga(azure_env):
    cfg = ConnectionConfig.from_env()
    assert (cfg.endpoint, cfg.deployment, cfg.protocol, cfg.api_version) == (
        "https://myres.openai.azure.com",
        "my-realtime",
        "ga",
        None,
    )
    async with cfg.async_client() as client:
        assert str(client.websocket_base_url) == "wss://myres.openai.azure.com/openai/v1"
        assert str(client.base_url).rstrip("/") == "https://myres.openai.azure.com/openai/v1"
    assert SECRET not in repr(cfg) and SECRET not in cfg.describe() and SECRET not in cfg._repr_html_()
    assert (
        cfg.describe()
        == "Azure OpenAI at https://myres.openai.azure.com · deployment my-realtime · GA · API key"
    )


async def test_preview_inferred_from_api_version(azure_env):
    azure_env.setenv("OPENAI_API_VERSION", "2025-04-01-preview")
    cfg = ConnectionConfig.from_env()
    assert cfg.protocol == "preview" and cfg.api_version == "2025-04-01-preview"
    import openai

    async with cfg.async_client() as client:
        assert isinstance(client, openai.AsyncAzureOpenAI)
    assert "preview (api-version 2025-04-01-preview)" in cfg.describe()


def test_preview_inferred_from_deployment_and_explicit_protocol_wins(azure_env):
    azure_env.setenv("AZURE_OPENAI_DEPLOYMENT_NAME", "gpt-4o-realtime-preview")
    assert ConnectionConfig.from_env().protocol == "preview"
    assert ConnectionConfig.from_env().api_version == "2025-04-01-preview"
    assert ConnectionConfig.from_env(protocol="ga").protocol == "ga"


def test_missing_deployment_names_variable_and_portal(azure_env):
    azure_env.delenv("AZURE_OPENAI_DEPLOYMENT_NAME")
    with pytest.raises(ConfigurationError) as info:
        ConnectionConfig.from_env()
    assert "AZURE_OPENAI_DEPLOYMENT_NAME" in str(info.value) and "Deployments" in str(info.value)


def test_bad_endpoint_and_bad_api_version(azure_env):
    azure_env.setenv("AZURE_OPENAI_ENDPOINT", "myres.openai.azure.com")
    with pytest.raises(ConfigurationError, match="AZURE_OPENAI_ENDPOINT.*Keys and Endpoint"):
        ConnectionConfig.from_env()
    azure_env.setenv("AZURE_OPENAI_ENDPOINT", "https://myres.openai.azure.com")
    azure_env.setenv("OPENAI_API_VERSION", "April 2025")
    with pytest.raises(ConfigurationError, match="OPENAI_API_VERSION"):
        ConnectionConfig.from_env()


def test_unknown_override_is_a_clear_type_error(azure_env):
    with pytest.raises(TypeError, match="deploymnet.*fields"):
        ConnectionConfig.from_env(deploymnet="x")


async def test_openai_key_alone_goes_to_api_openai_com(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    cfg = ConnectionConfig.from_env()
    assert cfg.endpoint is None and not cfg.is_emulator
    async with cfg.async_client() as client:
        assert "api.openai.com" in str(client.base_url)
    assert "api.openai.com" in cfg.describe() and SECRET not in repr(cfg)


class _FakeToken:
    def __init__(self, token: str):
        self.token = token
        self.expires_on = 4102444800  # 2100
        self.refresh_on = None
        self.token_type = "Bearer"


class FakeCredential:
    """Stands in for DefaultAzureCredential: records the scopes it was asked for."""

    scopes: list[str] = []

    def __init__(self, *args, **kwargs):
        pass

    def get_token(self, *scopes, **kwargs):
        FakeCredential.scopes.extend(scopes)
        return _FakeToken("entra-token-abc")

    def get_token_info(self, *scopes, **kwargs):
        FakeCredential.scopes.extend(scopes)
        return _FakeToken("entra-token-abc")


def test_keyless_entra_wiring(azure_env):
    import azure.identity

    azure_env.delenv("AZURE_OPENAI_API_KEY")
    azure_env.setattr(azure.identity, "DefaultAzureCredential", FakeCredential)
    FakeCredential.scopes = []
    cfg = ConnectionConfig.from_env()
    assert cfg.api_key is None and cfg.token_provider is not None
    assert cfg.token_provider() == "entra-token-abc"
    assert FakeCredential.scopes == [ENTRA_SCOPE]
    assert "Entra ID" in cfg.describe() and "entra-token" not in repr(cfg)


async def _session_created(cfg: ConnectionConfig) -> dict:
    async with cfg.async_client() as client, cfg.realtime_connect(client) as conn:
        async for event in conn:
            return event.model_dump() if hasattr(event, "model_dump") else dict(event)
    raise AssertionError("no event")


@pytest.mark.parametrize("protocol", ["ga", "preview"])
async def test_token_provider_reaches_the_emulator(emulator, protocol):
    calls = []

    def provider() -> str:
        calls.append(1)
        return emulator.api_key

    cfg = ConnectionConfig(endpoint=emulator.endpoint, protocol=protocol, token_provider=provider)
    event = await _session_created(cfg)
    assert event["type"] == "session.created" and calls


@pytest.mark.parametrize("protocol", ["ga", "preview"])
async def test_for_emulator_connects_with_the_sdk(emulator, protocol):
    cfg = ConnectionConfig.for_emulator(emulator, protocol=protocol)
    assert cfg.is_emulator and cfg.describe().startswith(f"emulator at {emulator.endpoint} · deployment ")
    event = await _session_created(cfg)
    assert event["type"] == "session.created"
    session = event["session"]
    assert ("audio" in session) == (protocol == "ga")


def test_no_endpoint_starts_shared_emulator_and_says_so_once(monkeypatch, capsys):
    monkeypatch.setattr(config_module, "_announced", False)
    first = ConnectionConfig.from_env()
    second = ConnectionConfig.from_env(protocol="preview")
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [
        f"realtime_widgets: no AZURE_OPENAI_ENDPOINT set — using the local emulator at {first.endpoint}"
    ]
    assert first.is_emulator and first.endpoint == second.endpoint and second.protocol == "preview"
    from realtime_widgets.emulator import Emulator

    assert Emulator.shared() is Emulator.shared() and first.endpoint == Emulator.shared().endpoint


async def test_wrong_key_401_is_explained(monkeypatch):
    from realtime_widgets.emulator import Emulator

    with Emulator(api_key="right-key", deployments=["gpt-realtime"]) as emu:
        bad = ConnectionConfig(endpoint=emu.endpoint, api_key=SECRET)
        with pytest.raises(Exception) as info:
            await _session_created(bad)
        err = explain_connect_error(info.value, bad)
        assert isinstance(err, ConnectionFailed) and err.status == 401
        assert "AZURE_OPENAI_API_KEY" in str(err) and SECRET not in str(err)

        missing = ConnectionConfig(endpoint=emu.endpoint, api_key="right-key", deployment="nope")
        with pytest.raises(Exception) as info:
            await _session_created(missing)
        err = explain_connect_error(info.value, missing)
        assert err.status == 404 and "'nope'" in str(err) and "AZURE_OPENAI_DEPLOYMENT_NAME" in str(err)


async def test_429_has_retry_after(emulator):
    cfg = ConnectionConfig.for_emulator(emulator)
    emulator.faults.handshake_429 = 1
    try:
        with pytest.raises(Exception) as info:
            await _session_created(cfg)
    finally:
        emulator.faults.reset()
    err = explain_connect_error(info.value, cfg)
    assert err.status == 429 and err.retry_after == emulator.faults.retry_after_s
    assert "quota" in str(err) and f"Retry after {emulator.faults.retry_after_s:g} s" in str(err)


def test_choosing_preview_warns_once_that_azure_retired_it(azure_env, monkeypatch):
    import warnings

    import realtime_widgets
    from realtime_widgets.config import PreviewRetiredWarning

    monkeypatch.setattr(config_module, "_preview_warned", False)
    assert "PreviewRetiredWarning" in realtime_widgets.__all__
    assert realtime_widgets.PreviewRetiredWarning is PreviewRetiredWarning
    assert issubclass(PreviewRetiredWarning, FutureWarning)  # shown to notebook users by default
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ga = ConnectionConfig.from_env()
        assert ga.protocol == "ga" and not caught  # GA, the default, says nothing
        azure_env.setenv("OPENAI_API_VERSION", "2025-04-01-preview")
        first = ConnectionConfig.from_env()
        ConnectionConfig.from_env(protocol="preview")
        first.replace(deployment="other")
    assert first.protocol == "preview"
    (warning,) = caught  # once per process, however many configs
    assert warning.category is PreviewRetiredWarning
    text = str(warning.message)
    assert "\n" not in text and "30 April 2026" in text and "protocol='ga'" in text
    assert warning.filename == __file__  # it points at the caller's line, not at the package


def test_audio_chat_deployment_from_its_variable(azure_env, monkeypatch):
    assert ConnectionConfig.from_env().chat_deployment == "gpt-4o-audio-preview"
    azure_env.setenv("AZURE_OPENAI_AUDIO_DEPLOYMENT_NAME", "my-audio-chat")
    assert ConnectionConfig.from_env().chat_deployment == "my-audio-chat"
    assert ConnectionConfig.from_env(chat_deployment="explicit").chat_deployment == "explicit"
    azure_env.delenv("AZURE_OPENAI_ENDPOINT")
    assert ConnectionConfig.from_env().chat_deployment == "my-audio-chat"  # the emulator too
