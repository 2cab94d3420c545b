"""Every SDK client the package opens is closed by the call or object that opened it.

Left to the garbage collector, an `AsyncOpenAI` closes itself with a task on whatever event loop runs
then (a notebook's next cell, another test), where closing sockets of a finished loop fails with
"Task exception was never retrieved". tests/client_leaks.py records every client collected open.
"""

from __future__ import annotations

import gc

import pytest

from realtime_widgets.completions import AudioChat, speak
from realtime_widgets.config import ConnectionConfig
from realtime_widgets.session import RealtimeSession
from realtime_widgets.session_config import SessionConfig
from tests.client_leaks import take_collected_open

TEXT = SessionConfig(output_modalities=["text"])


def _collected_open() -> list[tuple[str, str]]:
    gc.collect()
    return take_collected_open()


async def test_a_session_closes_the_client_of_each_connection(emulator) -> None:
    take_collected_open()
    async with RealtimeSession(ConnectionConfig.for_emulator(emulator), TEXT) as s:
        first = s._link._client
        await s.reconnect()  # the first connection's client is closed with it
        assert first.is_closed() and s._link._client is not first
        second = s._link._client
        assert (await s.send_text("Hello")).status == "completed"
    assert second.is_closed()
    del first, second
    assert _collected_open() == []


async def test_an_audio_chat_closes_the_clients_it_opened_and_can_ask_again(emulator) -> None:
    take_collected_open()
    chat = AudioChat(ConnectionConfig.for_emulator(emulator))
    chat.ask("One")
    await chat.ask_async("Two")
    sync_client, async_client = chat._sync_client, chat._async_client
    with pytest.raises(RuntimeError, match=r"await chat.aclose\(\)"):
        chat.close()  # the async client needs its loop: the error says how
    assert sync_client.is_closed()  # what it could close, it did
    await chat.aclose()
    assert async_client.is_closed()
    assert (await chat.ask_async("Three")).transcript == "You said: Three"  # a new client, history kept
    assert len(chat.replies) == 3
    await chat.aclose()
    del chat, sync_client, async_client
    assert _collected_open() == []


async def test_a_shared_client_is_left_to_its_owner(emulator) -> None:
    connection = ConnectionConfig.for_emulator(emulator)
    async with connection.chat_async_client() as shared:
        async with AudioChat(connection, client=shared) as chat:
            await chat.ask_async("Hi")
        assert not shared.is_closed()  # a batch's pool outlives each chat
        async with AudioChat(connection, client=shared) as chat:
            assert (await chat.ask_async("Again")).transcript == "You said: Again"


def test_speak_closes_its_client(emulator, monkeypatch) -> None:
    made = []
    open_client = ConnectionConfig.sync_client

    def remembered(self: ConnectionConfig):  # the real client, remembered to look at afterwards
        made.append(open_client(self))
        return made[-1]

    monkeypatch.setattr(ConnectionConfig, "sync_client", remembered)
    assert speak("Hello", connection=ConnectionConfig.for_emulator(emulator)).transcript
    assert len(made) == 1 and made[0].is_closed()
