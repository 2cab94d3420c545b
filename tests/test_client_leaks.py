"""The leak guard (tests/client_leaks.py) names the test that left an openai client open."""

from __future__ import annotations

import gc

from openai import AsyncOpenAI, OpenAI

from tests.client_leaks import take_collected_open

# Port 9 (discard): nothing is sent, the clients are only made.
BASE = "http://127.0.0.1:9/v1"


async def test_an_open_async_client_collected_is_reported_against_the_test_that_made_it(request) -> None:
    client = AsyncOpenAI(base_url=BASE, api_key="x")
    del client
    gc.collect()
    assert take_collected_open() == [("AsyncHttpxClientWrapper", request.node.nodeid)]


def test_an_open_sync_client_is_not_counted() -> None:
    """A sync client closes itself, without a loop, when collected."""
    client = OpenAI(base_url=BASE, api_key="x")
    del client
    gc.collect()
    assert take_collected_open() == []


async def test_closed_clients_are_not_reported() -> None:
    async with AsyncOpenAI(base_url=BASE, api_key="x") as client:
        pass
    with OpenAI(base_url=BASE, api_key="x") as sync_client:
        pass
    del client, sync_client
    gc.collect()
    assert take_collected_open() == []
