"""`python -m realtime_widgets.emulator --port P --api-key K` as a separate process."""

from __future__ import annotations

import json
import signal
import socket

import pytest
import websockets
from cli_process import ROOT, run_cli, start_cli
from websockets.exceptions import InvalidStatus


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_cli_prints_exports_serves_and_checks_key():
    port = free_port()
    proc = start_cli("--port", str(port), "--api-key", "cli-key")
    try:
        lines = []
        while not any(line.startswith("export AZURE_OPENAI_DEPLOYMENT_NAME=") for line in lines):
            line = proc.stdout.readline()
            assert line, f"CLI exited early: {proc.stderr.read()}"
            lines.append(line.strip())
        out = "\n".join(lines)
        assert f"http://127.0.0.1:{port}" in out
        assert f"export AZURE_OPENAI_ENDPOINT=http://127.0.0.1:{port}" in lines
        assert "export AZURE_OPENAI_API_KEY=cli-key" in lines
        url = f"ws://127.0.0.1:{port}/openai/v1/realtime?model=gpt-realtime"
        with pytest.raises(InvalidStatus) as info:
            async with websockets.connect(url, additional_headers={"api-key": "wrong"}):
                pass
        assert info.value.response.status_code == 401
        async with websockets.connect(url, additional_headers={"api-key": "cli-key"}) as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_cli_rejects_bad_arguments():
    r = run_cli("--port", "70000")
    assert r.returncode == 2 and "port must be" in r.stderr


def test_cli_limits_are_checked():
    r = run_cli("--port", "0", "--write-timeout", "-1")
    assert r.returncode == 2 and "write_timeout_s must be a positive number" in r.stderr


async def test_cli_replays_a_cassette():
    """`--replay FOLDER --replay-speed 0` serves notebook 07's committed cassette to the SDK's client."""
    from realtime_widgets import ConnectionConfig, RealtimeSession, SessionConfig
    from realtime_widgets.emulator import synthesize

    cassette = ROOT / "notebooks" / "cassettes" / "07_research"
    port = free_port()
    proc = start_cli("--port", str(port), "--replay", str(cassette), "--replay-speed", "0")
    try:
        while not (line := proc.stdout.readline()).startswith("export AZURE_OPENAI_DEPLOYMENT_NAME="):
            assert line, f"CLI exited early: {proc.stderr.read()}"
        connection = ConnectionConfig(
            endpoint=f"http://127.0.0.1:{port}", deployment="gpt-realtime", api_key="k"
        )
        async with RealtimeSession(connection, SessionConfig(voice="ash", turn_detection="manual")) as s:
            spoken = await s.send_audio(synthesize("What time is it in Tokyo?", voice="ash"))
            typed = await s.send_text("And tomorrow?")
        assert spoken.transcript.startswith("Azure speaking") and spoken.duration_s > 1
        assert typed.transcript == "Azure speaking. You asked: And tomorrow?"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_cli_says_when_the_replay_folder_is_no_cassette(tmp_path):
    done = run_cli("--port", "0", "--replay", str(tmp_path))
    assert done.returncode == 2 and "not a cassette" in done.stderr


def test_cli_network_profile_is_checked():
    r = run_cli("--port", "0", "--network-loss", "2")
    assert r.returncode == 2 and "network_loss is a fraction in [0, 1)" in r.stderr
