"""Quickstarts written elsewhere run against the emulator unchanged, configured by environment variables alone.

openai-python's `examples/realtime/realtime.py` and `azure_realtime.py` are not in the wheel; the test takes
them from the installed version's sdist on PyPI at run time (cached under pytest's cache folder) and runs
each file as it is. The seeds' quickstart shapes (Azure's GA `client.realtime` with the nested audio
session, and the preview `client.beta.realtime`) run as scripts here, keyless like Azure's quickstarts.
Everything goes over the emulator's TLS mode, as the quickstarts build `wss://` URLs.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

from realtime_widgets.emulator import Emulator

OPENAI_VERSION = importlib.metadata.version("openai")
EXAMPLES = ("realtime.py", "azure_realtime.py")
STDIN = "hello\nq\n"
REPLY = "You said: hello"
# Variables a developer's shell may hold that would point a quickstart somewhere else.
FOREIGN_PREFIXES = ("AZURE_", "OPENAI_", "IDENTITY_", "MSI_")


@pytest.fixture(scope="module")
def openai_examples(request, tmp_path_factory) -> Path:
    """The two example files of the installed openai version, from its sdist on PyPI."""
    cache = getattr(request.config, "cache", None)
    name = f"openai-{OPENAI_VERSION}-examples"
    folder = cache.mkdir(name) if cache is not None else tmp_path_factory.mktemp(name)
    if all((folder / f).is_file() for f in EXAMPLES):
        return folder
    with tempfile.TemporaryDirectory() as download:
        spec = f"openai=={OPENAI_VERSION}"
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-binary",
            ":all:",
            "--no-deps",
            spec,
            "-d",
            download,
        ]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired:
            pytest.skip(f"PyPI did not deliver the {spec} sdist within 10 minutes (no network?)")
        sdists = list(Path(download).glob("openai-*.tar.gz"))
        if r.returncode != 0 or not sdists:
            reason = (r.stderr.strip().splitlines() or ["no output"])[-1]
            pytest.skip(f"cannot download the {spec} sdist from PyPI (no network?): {reason}")
        with tarfile.open(sdists[0]) as tar:
            for example in EXAMPLES:
                wanted = f"examples/realtime/{example}"
                member = next((m for m in tar.getmembers() if m.name.split("/", 1)[-1] == wanted), None)
                assert member is not None, f"the {spec} sdist no longer has {wanted}"
                (folder / example).write_bytes(tar.extractfile(member).read())
    return folder


@pytest.fixture(scope="module")
def tls_emu():
    # A key is set, so the keyless runs prove the emulator's own token was what got them in.
    with Emulator(tls=True, api_key="quickstart-key", recognize=False) as emu:
        yield emu


def quickstart_env(emu, *, keyless: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_PREFIXES)}
    env.update(emu.env())
    if keyless:
        del env["AZURE_OPENAI_API_KEY"], env["OPENAI_API_KEY"]
        env.update(emu.identity_env())
    return env


def run(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(args, input=stdin, env=env, capture_output=True, text=True, timeout=120)


def test_openai_realtime_example_runs_unchanged(openai_examples, tls_emu):
    # OpenAI() reads OPENAI_API_KEY and OPENAI_BASE_URL; the SDK turns https into wss for realtime.
    before = tls_emu.stats.total_sessions
    r = run(
        [sys.executable, str(openai_examples / "realtime.py")], quickstart_env(tls_emu, keyless=False), STDIN
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert REPLY in r.stdout
    assert tls_emu.stats.total_sessions == before + 1


def test_azure_realtime_example_runs_unchanged_keyless(openai_examples, tls_emu):
    env = quickstart_env(tls_emu, keyless=True)
    r = run([sys.executable, str(openai_examples / "azure_realtime.py")], env, STDIN)
    assert r.returncode == 0, r.stderr[-3000:]
    assert REPLY in r.stdout


def test_azure_realtime_example_is_refused_without_the_identity(openai_examples, tls_emu):
    env = quickstart_env(tls_emu, keyless=True)
    env["IDENTITY_HEADER"] = "not-the-emulator-secret"
    r = run([sys.executable, str(openai_examples / "azure_realtime.py")], env, STDIN)
    assert r.returncode != 0 and REPLY not in r.stdout
    assert "ManagedIdentityCredential" in r.stderr


# Azure's GA quickstart (learn.microsoft.com, "GPT Realtime API via WebSockets", Python): a keyless token
# as the API key, the endpoint's https:// turned into wss://, the nested GA session.
GA_QUICKSTART = """
import asyncio, base64, json, os
from azure.identity.aio import DefaultAzureCredential, get_bearer_token_provider
from openai import AsyncOpenAI

SESSION = {
    "type": "realtime",
    "instructions": "You are a helpful assistant. You respond by voice and text.",
    "output_modalities": ["audio"],
    "audio": {
        "input": {
            "transcription": {"model": "whisper-1"},
            "format": {"type": "audio/pcm", "rate": 24000},
            "turn_detection": {
                "type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                "silence_duration_ms": 200, "create_response": True,
            },
        },
        "output": {"voice": "alloy", "format": {"type": "audio/pcm", "rate": 24000}},
    },
}


async def main():
    summary = {"types": [], "transcript": "", "audio_bytes": 0}
    async with DefaultAzureCredential() as credential:
        token = await get_bearer_token_provider(credential, "https://cognitiveservices.azure.com/.default")()
        endpoint = os.environ["AZURE_OPENAI_ENDPOINT"]
        base_url = endpoint.replace("https://", "wss://").rstrip("/") + "/openai/v1"
        async with (
            AsyncOpenAI(websocket_base_url=base_url, api_key=token) as client,
            client.realtime.connect(model=os.environ["AZURE_OPENAI_DEPLOYMENT_NAME"]) as connection,
        ):
            await connection.session.update(session=SESSION)
            await connection.conversation.item.create(
                item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}
            )
            await connection.response.create()
            async for event in connection:
                summary["types"].append(event.type)
                if event.type == "session.updated":
                    summary["session"] = event.session.model_dump(mode="json")
                elif event.type == "response.output_audio.delta":
                    summary["audio_bytes"] += len(base64.b64decode(event.delta))
                elif event.type == "response.output_audio_transcript.delta":
                    summary["transcript"] += event.delta
                elif event.type == "error":
                    summary["error"] = event.error.message
                elif event.type == "response.done":
                    summary["status"] = event.response.status
                    break
    print(json.dumps(summary))

asyncio.run(main())
"""

# Azure's preview quickstart: AsyncAzureOpenAI with a token provider, client.beta.realtime, which always
# builds wss:// from the endpoint.
PREVIEW_QUICKSTART = """
import asyncio, base64, json, os
from azure.identity.aio import DefaultAzureCredential, get_bearer_token_provider
from openai import AsyncAzureOpenAI


async def main():
    summary = {"types": [], "transcript": "", "audio_bytes": 0}
    async with DefaultAzureCredential() as credential:
        client = AsyncAzureOpenAI(
            azure_endpoint=os.environ["AZURE_OPENAI_ENDPOINT"],
            azure_ad_token_provider=get_bearer_token_provider(credential, "https://cognitiveservices.azure.com/.default"),
            api_version="2025-04-01-preview",
        )
        async with client.beta.realtime.connect(model=os.environ["AZURE_OPENAI_DEPLOYMENT_NAME"]) as connection:
            await connection.session.update(session={"modalities": ["text", "audio"], "voice": "alloy"})
            await connection.conversation.item.create(
                item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}
            )
            await connection.response.create()
            async for event in connection:
                summary["types"].append(event.type)
                if event.type == "session.updated":
                    summary["session"] = event.session.model_dump(mode="json")
                elif event.type == "response.audio.delta":
                    summary["audio_bytes"] += len(base64.b64decode(event.delta))
                elif event.type == "response.audio_transcript.delta":
                    summary["transcript"] += event.delta
                elif event.type == "error":
                    summary["error"] = event.error.message
                elif event.type == "response.done":
                    summary["status"] = event.response.status
                    break
    print(json.dumps(summary))

asyncio.run(main())
"""


def run_quickstart(code: str, emu) -> dict:
    r = run([sys.executable, "-c", code], quickstart_env(emu, keyless=True))
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert "error" not in summary, summary["error"]
    assert summary["status"] == "completed" and summary["transcript"] == REPLY
    assert summary["audio_bytes"] > 24_000 and summary["audio_bytes"] % 2 == 0  # > 0.5 s of PCM16
    return summary


def test_ga_quickstart_shape_over_tls(tls_emu):
    summary = run_quickstart(GA_QUICKSTART, tls_emu)
    audio = summary["session"]["audio"]
    assert summary["session"]["output_modalities"] == ["audio"]
    assert audio["input"]["transcription"]["model"] == "whisper-1"
    assert audio["input"]["turn_detection"]["type"] == "server_vad"
    assert audio["input"]["turn_detection"]["silence_duration_ms"] == 200
    assert audio["output"]["voice"] == "alloy"
    assert audio["output"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert "response.output_audio_transcript.done" in summary["types"]


def test_preview_quickstart_shape_over_tls(tls_emu):
    summary = run_quickstart(PREVIEW_QUICKSTART, tls_emu)
    assert sorted(summary["session"]["modalities"]) == ["audio", "text"]
    assert summary["session"]["voice"] == "alloy"
    assert "response.audio_transcript.done" in summary["types"]


OWN_CLIENT = """
import asyncio
from realtime_widgets import RealtimeSession

async def main():
    async with RealtimeSession() as session:
        turn = await session.send_text("hello")
    print(session.connection.describe())
    print(turn.transcript, len(turn.audio))

asyncio.run(main())
"""


def test_this_package_keyless_over_tls_by_variables_alone(tls_emu):
    env = quickstart_env(tls_emu, keyless=True)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH")])
    )
    r = run([sys.executable, "-c", OWN_CLIENT], env)
    assert r.returncode == 0, r.stderr[-3000:]
    described, spoken = r.stdout.strip().splitlines()[-2:]
    assert tls_emu.endpoint in described and "Entra ID" in described
    transcript, samples = spoken.rsplit(" ", 1)
    assert transcript == REPLY and int(samples) > 12_000
