"""Cassettes: a session recorded against the emulator playing "Azure" (its own key, deployment,
voice and replies) replays from the plain emulator with the same transcripts, audio durations and
item order; a run that leaves the recording fails with a message naming the turn; no secret is in
any file; audio chat completions record and replay; the modes none / once / all."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from realtime_widgets import (
    AudioChat,
    CassetteMismatch,
    ConfigurationError,
    ConnectionConfig,
    Emulator,
    RealtimeSession,
    SessionConfig,
)
from realtime_widgets.emulator.voice import synthesize

AZURE_KEY = "azure-key-0123456789abcdef-SECRET"
AZURE_DEPLOYMENT = "gpt-realtime-azure"
QUESTION = "What is the weather in Paris"


def azure_reply(text: str | None, seconds: float) -> str:
    """Replies the plain emulator never gives, so a replay that answered live would show."""
    return f"Azure speaking. You asked {text or 'something'}." if text else "Azure heard you."


@pytest.fixture(scope="module")
def azure():
    with Emulator(api_key=AZURE_KEY, deployments=[AZURE_DEPLOYMENT], reply=azure_reply) as emu:
        yield emu


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return synthesize("Please call me back tomorrow morning", voice="echo")


def summary(session: RealtimeSession) -> list[tuple]:
    """What the issue asks to survive a replay: item order, transcripts and audio durations."""
    return [
        (t.user_text, t.user_transcript, t.transcript, round(t.duration_s, 2), len(t.user_audio) // 240)
        for t in session.conversation.turns
    ]


async def _script(session: RealtimeSession, clip: np.ndarray) -> None:
    await session.send_text(QUESTION)
    await session.send_audio(clip, 24000)


def _record(folder: Path, azure: Emulator, clip: np.ndarray) -> list[tuple]:
    async def main() -> list[tuple]:
        connection = ConnectionConfig.for_emulator(azure)
        async with RealtimeSession(
            connection, SessionConfig(voice="ash"), record=folder, record_mode="all"
        ) as s:
            await _script(s, clip)
        return summary(s)

    return asyncio.run(main())


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, azure, clip):
    folder = tmp_path_factory.mktemp("cassette")
    return folder, _record(folder, azure, clip)


def test_a_recorded_session_replays_from_the_plain_emulator_as_it_was(recorded, clip):
    folder, summary_recorded = recorded
    assert summary_recorded[0][2].startswith("Azure speaking"), summary_recorded
    assert summary_recorded[1][4] > 10  # the user's audio, in 10 ms units

    async def main() -> list[tuple]:
        with Emulator(replay=folder, replay_speed=0) as plain:
            async with RealtimeSession(ConnectionConfig.for_emulator(plain), SessionConfig(voice="ash")) as s:
                await _script(s, clip)
            return summary(s)

    replayed = asyncio.run(main())
    assert [r[:3] for r in replayed] == [r[:3] for r in summary_recorded]
    for got, want in zip(replayed, summary_recorded, strict=True):
        assert got[3] == pytest.approx(want[3], abs=0.02)  # assistant audio, through the codec
        assert got[4] == pytest.approx(want[4], abs=2)


def test_record_mode_none_replays_through_the_kernel_emulator(recorded, clip):
    folder, summary_recorded = recorded

    async def main() -> list[tuple]:
        # The Azure connection is given, and not used: the cassette answers.
        connection = ConnectionConfig(endpoint="https://nowhere.invalid", deployment="x", api_key="k")
        async with RealtimeSession(connection, record=folder, record_mode="none") as s:
            assert s.connection.is_emulator
            await _script(s, clip)
        return summary(s)

    assert [r[:3] for r in asyncio.run(main())] == [r[:3] for r in summary_recorded]


def _replay_expecting_mismatch(folder: Path, script) -> CassetteMismatch:
    async def main() -> CassetteMismatch:
        with Emulator(replay=folder, replay_speed=0) as plain:
            async with RealtimeSession(ConnectionConfig.for_emulator(plain), timeout=30) as s:
                with pytest.raises(CassetteMismatch) as caught:
                    await script(s)
        return caught.value

    return asyncio.run(main())


def test_a_different_text_names_the_turn_and_both_texts(recorded, clip):
    folder, _ = recorded
    err = _replay_expecting_mismatch(folder, lambda s: s.send_text("What is the weather in Rome"))
    message = str(err)
    assert "turn 1" in message and "Rome" in message and "Paris" in message
    assert "re-record" in message and "REALTIME_WIDGETS_RECORD_MODE=all" in message


def test_audio_of_very_different_length_names_the_turn(recorded, clip):
    folder, _ = recorded

    async def script(s: RealtimeSession) -> None:
        await s.send_text(QUESTION)
        await s.send_audio(np.concatenate([clip, clip, clip]), 24000)

    message = str(_replay_expecting_mismatch(folder, script))
    assert "turn 2" in message and "audio" in message, message


def test_a_turn_the_recording_does_not_have_is_refused(recorded, clip):
    folder, _ = recorded

    async def script(s: RealtimeSession) -> None:
        await _script(s, clip)
        await s.send_text("And one more thing")

    message = str(_replay_expecting_mismatch(folder, script))
    assert "turn 3" in message and "ends here" in message, message


def test_a_missing_turn_is_refused(recorded):
    folder, _ = recorded

    async def script(s: RealtimeSession) -> None:
        await s.send_text(QUESTION)
        await s.send_text("Skipping the audio turn")

    message = str(_replay_expecting_mismatch(folder, script))
    assert "turn 2" in message and "conversation.item.create" in message, message


def _all_text(folder: Path) -> str:
    return "\n".join(p.read_bytes().decode("latin-1") for p in sorted(folder.rglob("*")) if p.is_file())


def test_no_secret_in_any_cassette_file(recorded):
    folder, _ = recorded
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "cassette.json",
        "realtime-001.client.opus",
        "realtime-001.jsonl",
        "realtime-001.server.opus",
    ]
    text = _all_text(folder)
    assert AZURE_KEY not in text and "api-key" not in text.lower() and "authorization" not in text.lower()
    info = json.loads((folder / "cassette.json").read_text())
    assert info["deployments"]["realtime"] == AZURE_DEPLOYMENT and "endpoint" not in json.dumps(info)
    lines = (folder / "realtime-001.jsonl").read_text().splitlines()
    assert all(len(line) < 20_000 for line in lines)  # audio is referenced, not inlined


def test_no_entra_token_in_a_cassette_recorded_keyless(tmp_path, azure, monkeypatch, clip):
    from azure.identity import DefaultAzureCredential, get_bearer_token_provider

    for name, value in azure.identity_env().items():
        monkeypatch.setenv(name, value)
    credential = DefaultAzureCredential()
    provider = get_bearer_token_provider(credential, "https://cognitiveservices.azure.com/.default")
    token = provider()
    connection = ConnectionConfig(
        endpoint=azure.endpoint, deployment=AZURE_DEPLOYMENT, token_provider=provider, is_emulator=True
    )

    async def main() -> None:
        async with RealtimeSession(connection, record=tmp_path, record_mode="all") as s:
            await s.send_text(QUESTION)

    asyncio.run(main())
    with AudioChat(
        connection.replace(chat_deployment=AZURE_DEPLOYMENT), record=tmp_path, record_mode="all"
    ) as chat:
        chat.ask("Hello there")
    text = _all_text(tmp_path)
    assert len(token) > 20 and token not in text and "bearer" not in text.lower()
    assert (tmp_path / "chat.jsonl").is_file() and (tmp_path / "realtime-001.jsonl").is_file()


def test_audio_chat_completions_record_and_replay(tmp_path, azure, clip):
    from realtime_widgets import cassette

    connection = ConnectionConfig.for_emulator(azure).replace(chat_deployment=AZURE_DEPLOYMENT)
    pieces: list[np.ndarray] = []
    with AudioChat(connection, record=tmp_path, record_mode="all") as chat:
        first = chat.ask("Hello there")
        second = chat.ask(audio=clip, rate=24000)
        third = chat.ask("Stream it please", on_audio=pieces.append)
    assert first.transcript.startswith("Azure speaking")

    streamed: list[np.ndarray] = []
    with AudioChat(record=tmp_path, record_mode="none") as replay:
        assert replay.connection.is_emulator
        again = [replay.ask("Hello there"), replay.ask(audio=clip, rate=24000)]
        again.append(replay.ask("Stream it please", on_audio=streamed.append))
        with pytest.raises(CassetteMismatch, match="request 4.*holds 3"):
            replay.ask("A fourth question")
    for got, want in zip(again, [first, second, third], strict=True):
        assert got.transcript == want.transcript and got.id == want.id
        assert got.duration_s == pytest.approx(want.duration_s, abs=0.02)
    assert sum(len(p) for p in streamed) == pytest.approx(sum(len(p) for p in pieces), abs=10)

    cassette.forget(tmp_path)  # a new run starts from the first request
    with (
        AudioChat(record=tmp_path, record_mode="none") as other,
        pytest.raises(CassetteMismatch, match=r"request 1 differs.*Goodbye.*re-record"),
    ):
        other.ask("Goodbye")


def test_modes_none_once_all(tmp_path, azure, clip):
    from realtime_widgets import cassette

    missing = tmp_path / "missing"
    with pytest.raises(ConfigurationError, match="record_mode='once'"):
        RealtimeSession(record=missing, record_mode="none")
    with pytest.raises(ConfigurationError, match="not one of none, once, all"):
        RealtimeSession(record=missing, record_mode="new_episodes")

    connection = ConnectionConfig.for_emulator(azure).replace(chat_deployment=AZURE_DEPLOYMENT)
    folder = tmp_path / "once"
    with AudioChat(connection, record=folder, record_mode="once") as recording:
        assert not recording.connection.is_emulator or recording.connection.endpoint == azure.endpoint
        recording.ask("Hello there")
    cassette.forget(folder)  # a new run
    with AudioChat(connection, record=folder, record_mode="once") as replaying:
        assert replaying.connection.endpoint != azure.endpoint  # the cassette exists: replayed
        assert replaying.ask("Hello there").transcript.startswith("Azure speaking")
    cassette.forget(folder)
    with AudioChat(connection, record=folder, record_mode="all") as again:
        assert again.connection.endpoint == azure.endpoint
        assert not (folder / "chat.jsonl").exists()  # re-recording starts the cassette afresh
        again.ask("Something new")
    assert "Something new" in (folder / "chat.jsonl").read_text()


def test_a_preview_session_replays_with_its_recorded_timing(tmp_path, azure):
    """Wire names as recorded (preview's `response.audio.delta`), and the recorded gaps at speed 1."""
    import warnings

    async def run(connection: ConnectionConfig, **record) -> RealtimeSession:
        async with RealtimeSession(connection, SessionConfig(turn_detection="manual"), **record) as s:
            await s.send_text(QUESTION)
        return s

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the preview protocol's retirement warning
        live = asyncio.run(run(ConnectionConfig.for_emulator(azure, protocol="preview"), record=tmp_path))
        lines = (tmp_path / "realtime-001.jsonl").read_text()
        assert '"response.audio.delta"' in lines and '"response.output_audio.delta"' not in lines
        with Emulator(replay=tmp_path, replay_speed=1) as paced:
            replayed = asyncio.run(run(ConnectionConfig.for_emulator(paced, protocol="preview")))
    want, got = live.conversation.turns[0], replayed.conversation.turns[0]
    assert got.transcript == want.transcript and got.duration_s == pytest.approx(want.duration_s, abs=0.02)
    recorded_span = live.event_log[-1].time - live.event_log[0].time
    replayed_span = replayed.event_log[-1].time - replayed.event_log[0].time
    # At speed 1 the replay takes the recorded time (at least; a busy machine may add to it).
    assert replayed_span >= 0.8 * recorded_span > 0.2, (recorded_span, replayed_span)


def test_a_reconnect_records_the_next_file_and_replays(tmp_path, azure):
    async def script(s: RealtimeSession) -> list[str]:
        first = await s.send_text("First question")
        await s.reconnect()  # a new connection: the next recorded session
        second = await s.send_text("Second question")
        return [first.transcript, second.transcript]

    async def main() -> tuple[list[str], list[str]]:
        config = SessionConfig(turn_detection="manual")
        async with RealtimeSession(ConnectionConfig.for_emulator(azure), config, record=tmp_path) as s:
            recorded = await script(s)
        with Emulator(replay=tmp_path, replay_speed=0) as plain:
            async with RealtimeSession(ConnectionConfig.for_emulator(plain), config) as s:
                return recorded, await script(s)

    recorded, replayed = asyncio.run(main())
    assert recorded[1].startswith("Azure speaking") and replayed == recorded
    assert {"realtime-001.jsonl", "realtime-002.jsonl"} <= {p.name for p in tmp_path.iterdir()}
