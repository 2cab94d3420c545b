"""HTTP errors shaped like Azure's: unknown paths, wrong methods, the dated chat path's api-version."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
import websockets
from openai import AzureOpenAI, OpenAI
from websockets.exceptions import InvalidStatus

AZURE_NOT_FOUND = {"error": {"code": "404", "message": "Resource not found"}}
MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/nothing/here"),
        ("POST", "/openai/v1/embeddings"),
        ("GET", "/openai/v1/models"),
        ("POST", "/openai/deployments/gpt-realtime/completions?api-version=2025-01-01-preview"),
    ],
)
def test_unknown_paths_get_azures_json_404(emulator, method, path):
    for headers in ({}, {"api-key": emulator.api_key}):  # the path decides before the key does
        r = httpx.request(method, emulator.endpoint + path, headers=headers, json={})
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("application/json")
        assert r.json() == AZURE_NOT_FOUND


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("GET", "/openai/v1/chat/completions", "POST"),
        ("DELETE", "/openai/deployments/d/chat/completions?api-version=2025-01-01-preview", "POST"),
        ("POST", "/openai/v1/realtime?model=gpt-realtime", "GET, HEAD"),
    ],
)
def test_wrong_methods_get_a_json_405(emulator, method, path, allowed):
    r = httpx.request(method, emulator.endpoint + path, headers={"api-key": emulator.api_key})
    assert r.status_code == 405
    assert r.headers["allow"] == allowed
    body = r.json()["error"]
    assert body["code"] == "405" and method in body["message"] and allowed in body["message"]


def test_dated_chat_path_without_api_version_is_not_found(emulator):
    url = f"{emulator.endpoint}/openai/deployments/{emulator.deployment}/chat/completions"
    r = httpx.post(url, headers={"api-key": emulator.api_key}, json={"messages": MESSAGES})
    assert r.status_code == 404 and r.json() == AZURE_NOT_FOUND
    ok = httpx.post(
        url,
        params={"api-version": "2025-01-01-preview"},
        headers={"api-key": emulator.api_key},
        json={"messages": MESSAGES},
    )
    assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"] == "You said: hello"


def test_sdk_sees_not_found_on_the_dated_path_without_api_version(emulator):
    # The OpenAI client never adds api-version, so pointed at the dated path it sends none.
    client = OpenAI(
        base_url=f"{emulator.endpoint}/openai/deployments/{emulator.deployment}",
        api_key=emulator.api_key,
        max_retries=0,
    )
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model=emulator.deployment, messages=MESSAGES)
    assert info.value.status_code == 404 and info.value.body == AZURE_NOT_FOUND["error"]


def test_sdk_sees_not_found_and_405_on_unserved_routes(emulator):
    client = OpenAI(base_url=emulator.endpoint + "/openai/v1", api_key=emulator.api_key, max_retries=0)
    with pytest.raises(openai.NotFoundError) as info:
        client.embeddings.create(model="text-embedding-3-small", input="hello")
    assert info.value.body == AZURE_NOT_FOUND["error"]
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.list()  # GET on a POST-only route
    assert info.value.status_code == 405 and info.value.body["code"] == "405"


def test_sdk_sees_azures_answer_to_an_unsupported_api_version(emulator):
    client = AzureOpenAI(
        azure_endpoint=emulator.endpoint, api_version="2023-05-15", api_key=emulator.api_key, max_retries=0
    )
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=emulator.deployment, messages=MESSAGES)
    assert info.value.body == {"code": "BadRequest", "message": "API version not supported"}


async def test_websocket_to_an_unknown_path_gets_the_json_404(emulator):
    url = f"ws://127.0.0.1:{emulator.port}/openai/v2/realtime?model={emulator.deployment}"
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(url, additional_headers={"api-key": emulator.api_key}):
            pass
    assert info.value.response.status_code == 404
    assert json.loads(info.value.response.body) == AZURE_NOT_FOUND
