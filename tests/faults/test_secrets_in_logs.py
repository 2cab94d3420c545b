"""No API key and no Entra token in any log record at DEBUG (issue 10).

At DEBUG, `websockets.client` logs every handshake header (`> Authorization: Bearer <key>`,
`> api-key: <key>`), and azure-identity / msal log token responses. Each connection path of the
package runs against the emulator with a root handler at DEBUG; no record's message, arguments or
formatted text may hold the credential, while the header names still show with the redaction mark.
"""

from __future__ import annotations

import asyncio
import logging
import warnings

import pytest

from realtime_widgets import ConnectionConfig, RealtimeSession, speak
from realtime_widgets.config import entra_token_provider
from realtime_widgets.emulator import Emulator
from realtime_widgets.log_redaction import REDACTED, redact

API_KEY = "sk-test-9f8e7d6c5b4a39281706"


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> list[str]:
        return [self.format(r) + " " + repr(r.args) + " " + repr(r.msg) for r in self.records]

    def leaks(self, secret: str) -> list[str]:
        return [text[:200] for text in self.texts() if secret in text]

    def lines(self, logger_prefix: str) -> list[str]:
        return [r.getMessage() for r in self.records if r.name.startswith(logger_prefix)]


@pytest.fixture
def records():
    root = logging.getLogger()
    handler = Records()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture(scope="module")
def keyed_emulator():
    with Emulator(api_key=API_KEY, recognize=False) as emu:
        yield emu


async def _one_turn(connection: ConnectionConfig) -> None:
    async with RealtimeSession(connection) as session:
        turn = await session.send_text("Hello there.")
        assert turn.transcript


@pytest.mark.parametrize("protocol", ["ga", "preview"])
def test_realtime_session_with_a_key_logs_no_key(keyed_emulator, records, protocol):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the preview protocol's retirement notice
        connection = ConnectionConfig.for_emulator(keyed_emulator, protocol=protocol)
    asyncio.run(_one_turn(connection))
    handshake = records.lines("websockets.client")
    assert any(line.startswith("> GET ") for line in handshake), "websockets logged no handshake at DEBUG"
    assert records.leaks(API_KEY) == []
    # The header is still visible, only its value is gone.
    assert any(f"Bearer {REDACTED}" in line or f"api-key: {REDACTED}" in line for line in handshake), (
        handshake
    )


def test_audio_chat_completion_with_a_key_logs_no_key(keyed_emulator, records):
    reply = speak("Read this aloud.", connection=ConnectionConfig.for_emulator(keyed_emulator))
    assert reply.duration_s > 0
    assert any(r.name.startswith(("openai", "httpx", "httpcore")) for r in records.records)
    assert records.leaks(API_KEY) == []


def test_keyless_entra_session_logs_no_token(keyed_emulator, records, monkeypatch):
    for name, value in keyed_emulator.identity_env().items():
        monkeypatch.setenv(name, value)
    provider = entra_token_provider()
    issued: list[str] = []

    def token() -> str:
        issued.append(provider())
        return issued[-1]

    connection = ConnectionConfig(
        endpoint=keyed_emulator.endpoint, deployment=keyed_emulator.deployment, token_provider=token
    )
    asyncio.run(_one_turn(connection))
    speak("Read this aloud.", connection=connection)
    assert issued and all(t.startswith("emulator-mi-") for t in issued)
    # azure-identity logged the token request and its answer; websockets the handshake.
    assert records.lines("azure.identity") and records.lines("msal")
    for secret in set(issued) | {keyed_emulator.identity_env()["IDENTITY_HEADER"]}:
        assert records.leaks(secret) == []
    assert any(f"Authorization: Bearer {REDACTED}" in line for line in records.lines("websockets.client"))


@pytest.mark.parametrize(
    "text",
    [
        "> Authorization: Bearer abc.def-ghi_jkl",
        "{'api-key': 'abcdefgh12345678', 'x': 1}",
        '"access_token": "eyJ0eXAiOiJKV1Qi.abc"',
        "> api-key: k3y-v4lue-long",
    ],
)
def test_redact_keeps_the_name_and_drops_the_value(text):
    clean = redact(text)
    assert REDACTED in clean
    assert not any(
        secret in clean for secret in ("abc.def-ghi_jkl", "abcdefgh12345678", "eyJ0eX", "k3y-v4lue")
    )
    assert (
        clean.split(REDACTED)[0]
        .strip(" '\"")
        .lower()
        .rstrip(":= '\"")
        .endswith(("bearer", "api-key", "access_token"))
    )
