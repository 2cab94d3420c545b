"""The emulator's TLS mode (`Emulator(tls=True)`, `--tls`), its trust variables and its managed identity."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import websockets
from cli_process import start_cli
from openai import AsyncOpenAI
from websockets.exceptions import InvalidStatus

from realtime_widgets.emulator import Emulator

SCOPE = "https://cognitiveservices.azure.com/.default"
TRUST_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


@pytest.fixture(scope="module")
def tls_emu():
    with Emulator(tls=True, api_key="tls-key", recognize=False) as emu:
        yield emu


def trusting(emu) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(emu.ca_file))


def test_serves_https_signed_by_its_own_ca(tls_emu):
    port = tls_emu.port
    assert tls_emu.endpoint == f"https://127.0.0.1:{port}"
    assert tls_emu.websocket_base_url == f"wss://127.0.0.1:{port}/openai"
    assert tls_emu.ca_file.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert (
        httpx.get(tls_emu.endpoint, verify=trusting(tls_emu)).json()["service"] == "realtime_widgets emulator"
    )
    # Nobody else trusts it, and it does not answer plain HTTP.
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(tls_emu.endpoint, verify=ssl.create_default_context())
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=3)


def test_trust_bundle_holds_the_ca_then_public_roots(tls_emu):
    env = tls_emu.env()
    assert env["SSL_CERT_FILE"] == env["REQUESTS_CA_BUNDLE"]
    bundle = Path(env["SSL_CERT_FILE"]).read_text()
    assert bundle.startswith(tls_emu.ca_file.read_text())
    assert bundle.count("BEGIN CERTIFICATE") > 10  # certifi's roots follow: other HTTPS keeps working
    assert env["AZURE_OPENAI_ENDPOINT"] == tls_emu.endpoint
    assert env["OPENAI_BASE_URL"] == tls_emu.endpoint + "/openai/v1"


async def test_wss_through_the_sdk_with_ssl_cert_file(tls_emu, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", tls_emu.env()["SSL_CERT_FILE"])
    base = tls_emu.websocket_base_url + "/v1"
    async with (
        AsyncOpenAI(websocket_base_url=base, api_key=tls_emu.api_key) as client,
        client.realtime.connect(model=tls_emu.deployment) as conn,
    ):
        assert (await conn.recv()).type == "session.created"


def test_files_go_when_it_stops():
    emu = Emulator(tls=True, recognize=False).start()
    files = [emu.ca_file, Path(emu.env()["SSL_CERT_FILE"])]
    assert all(f.exists() for f in files)
    emu.stop()
    assert not any(f.exists() for f in files)
    assert Emulator().ca_file is None  # no TLS, no CA


def test_bad_tls_argument_names_the_param():
    with pytest.raises(TypeError, match="tls must be True or False"):
        Emulator(tls="yes")


# Which variable each client path reads; the other one must not be enough (what the docs promise).
CLIENT_PATHS = {
    "openai SDK HTTP (httpx2)": (
        "SSL_CERT_FILE",
        "from openai import OpenAI\n"
        "r = OpenAI(max_retries=0).chat.completions.create(model='gpt-realtime', messages=[{'role': 'user', 'content': 'hi'}])\n"
        "print(r.choices[0].message.content)",
        "You said: hi",
    ),
    "openai SDK realtime (websockets)": (
        "SSL_CERT_FILE",
        "from openai import OpenAI\n"
        "with OpenAI().realtime.connect(model='gpt-realtime') as c:\n"
        "    print(c.recv().type)",
        "session.created",
    ),
    "azure-identity aio (aiohttp)": (
        "SSL_CERT_FILE",
        "import asyncio\n"
        "from azure.identity.aio import ManagedIdentityCredential\n"
        "async def main():\n"
        "    async with ManagedIdentityCredential() as c:\n"
        f"        print((await c.get_token('{SCOPE}')).token)\n"
        "asyncio.run(main())",
        "emulator-mi-",
    ),
    "azure-identity sync (requests)": (
        "REQUESTS_CA_BUNDLE",
        "from azure.identity import ManagedIdentityCredential\n"
        f"print(ManagedIdentityCredential().get_token('{SCOPE}').token)",
        "emulator-mi-",
    ),
}


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def client_env(emu, trust: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in TRUST_VARIABLES}
    env.update({k: v for k, v in emu.env().items() if k not in TRUST_VARIABLES})
    env.update(emu.identity_env())
    env.update(trust)
    return env


@pytest.mark.parametrize("path", list(CLIENT_PATHS))
def test_each_client_path_trusts_the_emulator_through_its_variable(tls_emu, path):
    variable, code, expected = CLIENT_PATHS[path]
    other = next(v for v in TRUST_VARIABLES if v != variable)
    bundle = tls_emu.env()[variable]
    ok = run_python(code, client_env(tls_emu, {variable: bundle}))
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert expected in ok.stdout
    refused = run_python(code, client_env(tls_emu, {other: bundle}))
    assert refused.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr


def test_aiohttp_reads_ssl_cert_file_when_imported(tls_emu):
    code = (
        "import os, aiohttp\n"
        "os.environ['SSL_CERT_FILE'] = os.environ.pop('LATE_SSL_CERT_FILE')\n"
        + CLIENT_PATHS["azure-identity aio (aiohttp)"][1]
    )
    late = run_python(code, client_env(tls_emu, {"LATE_SSL_CERT_FILE": tls_emu.env()["SSL_CERT_FILE"]}))
    assert late.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in late.stderr


def test_managed_identity_endpoint_and_its_tokens(tls_emu):
    verify = trusting(tls_emu)
    secret = tls_emu.identity_env()["IDENTITY_HEADER"]
    params = {"api-version": "2019-08-01", "resource": "https://cognitiveservices.azure.com"}

    def token_request(headers, query):
        return httpx.get(tls_emu.identity_endpoint, params=query, headers=headers, verify=verify)

    assert token_request({}, params).status_code == 401
    assert token_request({"X-IDENTITY-HEADER": "guess"}, params).status_code == 401
    assert (
        token_request({"X-IDENTITY-HEADER": secret}, {**params, "api-version": "2017-09-01"}).status_code
        == 400
    )
    assert token_request({"X-IDENTITY-HEADER": secret}, {"api-version": "2019-08-01"}).status_code == 400
    r = token_request({"X-IDENTITY-HEADER": secret}, params)
    body = r.json()
    assert r.status_code == 200 and body["token_type"] == "Bearer" and body["resource"] == params["resource"]
    assert int(body["expires_on"]) > 0

    chat = f"{tls_emu.endpoint}/openai/v1/chat/completions"
    message = {"model": tls_emu.deployment, "messages": [{"role": "user", "content": "hi"}]}
    # A key is set, so only the key or a token the emulator issued gets in.
    issued = httpx.post(
        chat, json=message, headers={"Authorization": f"Bearer {body['access_token']}"}, verify=verify
    )
    assert issued.status_code == 200
    made_up = httpx.post(
        chat, json=message, headers={"Authorization": "Bearer emulator-mi-made-up"}, verify=verify
    )
    assert made_up.status_code == 401


def test_cli_tls_prints_variables_that_work():
    proc = start_cli("--port", "0", "--tls", "--no-recognizer")
    try:
        exports: dict[str, str] = {}
        while "AZURE_TOKEN_CREDENTIALS" not in exports:
            line = proc.stdout.readline()
            assert line, f"CLI exited early: {proc.stderr.read()}"
            if line.startswith("export "):
                name, _, value = line[len("export ") :].split("  #")[0].strip().partition("=")
                exports[name] = value
        endpoint = exports["AZURE_OPENAI_ENDPOINT"]
        assert endpoint.startswith("https://127.0.0.1:")
        assert exports["OPENAI_BASE_URL"] == endpoint + "/openai/v1"
        assert exports["IDENTITY_ENDPOINT"] == endpoint + "/msi/token"
        assert exports["AZURE_TOKEN_CREDENTIALS"] == "ManagedIdentityCredential"
        verify = ssl.create_default_context(cafile=exports["SSL_CERT_FILE"])
        r = httpx.get(
            exports["IDENTITY_ENDPOINT"],
            params={"api-version": "2019-08-01", "resource": "https://cognitiveservices.azure.com"},
            headers={"X-IDENTITY-HEADER": exports["IDENTITY_HEADER"]},
            verify=verify,
        )
        assert r.status_code == 200
        bundle = Path(exports["SSL_CERT_FILE"])
        assert bundle.exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    assert not bundle.exists()


async def test_wss_handshake_checks_the_key(tls_emu):
    url = f"{tls_emu.websocket_base_url}/v1/realtime?model={tls_emu.deployment}"
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(url, ssl=trusting(tls_emu), additional_headers={"api-key": "wrong"}):
            pass
    assert info.value.response.status_code == 401
    async with websockets.connect(
        url, ssl=trusting(tls_emu), additional_headers={"api-key": "tls-key"}
    ) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
