"""Client events and session fields the SDK's types allow: each is accepted and echoed back.

Sent through the SDK's typed helpers, on each protocol whose SDK types have the field. A refusal is a
failure unless docs/emulator-fidelity.md documents it with an Azure source; then the test asserts
that exact refusal instead.
"""

from __future__ import annotations

from contextlib import AsyncExitStack

import pytest
from sdk_wire import Wire, connect, of_type

# A 1x1 PNG, the smallest image a user message can carry.
PIXEL_PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
DEPLOYMENT_NAMED_TRANSCRIBER = (
    "my-transcribe-deployment"  # Azure: "the deployment name of the transcription model"
)


@pytest.fixture
async def wire(request, emulator):
    """An SDK connection for the test's `protocol` parameter (manual turns, nothing pending)."""
    protocol = request.node.callspec.params["protocol"]
    async with AsyncExitStack() as stack:
        conn = await stack.enter_async_context(connect(emulator, protocol))
        w = Wire(conn, protocol)
        assert (await w.recv())["type"] == "session.created"
        yield w
        await w.drain()


async def update(wire: Wire, body: dict) -> dict:
    """The server's answer to one session.update: session.updated or error."""
    await wire.conn.session.update(session=body)
    return (await wire.until("session.updated", "error"))[-1]


async def create_item(wire: Wire, item: dict) -> dict:
    """The server's answer to one conversation.item.create: the item's echo or error."""
    await wire.conn.conversation.item.create(item=item)
    echo = "conversation.item.done" if wire.protocol == "ga" else "conversation.item.created"
    return (await wire.until(echo, "error"))[-1]


def accepted(answer: dict, kind: str) -> dict:
    assert answer["type"] == kind, f"refused: {answer.get('error', answer)}"
    return answer


@pytest.mark.parametrize("protocol", ["ga"])
async def test_parallel_tool_calls(wire, protocol):
    answer = accepted(
        await update(wire, {"type": "realtime", "parallel_tool_calls": False}), "session.updated"
    )
    assert answer["session"]["parallel_tool_calls"] is False


@pytest.mark.parametrize("protocol", ["ga"])
async def test_reasoning(wire, protocol):
    answer = accepted(
        await update(wire, {"type": "realtime", "reasoning": {"effort": "low"}}), "session.updated"
    )
    assert answer["session"]["reasoning"]["effort"] == "low"


@pytest.mark.parametrize("kind", ["near_field", "far_field"])
@pytest.mark.parametrize("protocol", ["ga", "preview"])
async def test_noise_reduction(wire, protocol, kind):
    if protocol == "ga":
        body = {"type": "realtime", "audio": {"input": {"noise_reduction": {"type": kind}}}}
        answer = accepted(await update(wire, body), "session.updated")
        assert answer["session"]["audio"]["input"]["noise_reduction"]["type"] == kind
    else:
        answer = accepted(
            await update(wire, {"input_audio_noise_reduction": {"type": kind}}), "session.updated"
        )
        assert answer["session"]["input_audio_noise_reduction"]["type"] == kind


@pytest.mark.parametrize("protocol", ["ga"])
async def test_voice_as_an_object(wire, protocol):
    body = {"type": "realtime", "audio": {"output": {"voice": {"id": "voice_1234"}}}}
    answer = accepted(await update(wire, body), "session.updated")
    assert answer["session"]["audio"]["output"]["voice"] == {"id": "voice_1234"}


@pytest.mark.parametrize("protocol", ["ga"])
async def test_mcp_tool_is_accepted_and_listing_fails_as_for_an_unreachable_server(wire, protocol):
    tool = {
        "type": "mcp",
        "server_label": "docs",
        "server_url": "https://mcp.invalid/sse",
        "require_approval": "never",
    }
    answer = accepted(await update(wire, {"type": "realtime", "tools": [tool]}), "session.updated")
    assert [t["type"] for t in answer["session"]["tools"]] == ["mcp"]
    events = await wire.until("mcp_list_tools.failed", "mcp_list_tools.completed", timeout=10)
    assert events[-1]["type"] == "mcp_list_tools.failed"


@pytest.mark.parametrize("protocol", ["ga"])
async def test_input_image_user_content(wire, protocol):
    item = {"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": PIXEL_PNG}]}
    answer = accepted(await create_item(wire, item), "conversation.item.done")
    assert answer["item"]["content"][0]["type"] == "input_image"


@pytest.mark.parametrize("protocol", ["ga", "preview"])
async def test_assistant_history_item_with_an_output_audio_part(wire, protocol):
    part_type = "output_audio" if protocol == "ga" else "audio"
    item = {
        "type": "message",
        "role": "assistant",
        "content": [{"type": part_type, "transcript": "Hello there."}],
    }
    echo = "conversation.item.done" if protocol == "ga" else "conversation.item.created"
    answer = accepted(await create_item(wire, item), echo)
    part = answer["item"]["content"][0]
    assert part["type"] == part_type and part["transcript"] == "Hello there."


@pytest.mark.parametrize("protocol", ["ga"])
async def test_mcp_approval_response_item(wire, protocol):
    item = {"type": "mcp_approval_response", "approval_request_id": "mcpr_123", "approve": True}
    answer = accepted(await create_item(wire, item), "conversation.item.done")
    assert answer["item"]["type"] == "mcp_approval_response"
    assert answer["item"]["approval_request_id"] == "mcpr_123" and answer["item"]["approve"] is True


@pytest.mark.parametrize("protocol", ["ga", "preview"])
async def test_transcription_model_as_an_azure_deployment_name(wire, protocol):
    model = {"model": DEPLOYMENT_NAMED_TRANSCRIBER}
    if protocol == "ga":
        body = {"type": "realtime", "audio": {"input": {"transcription": model}}}
        answer = accepted(await update(wire, body), "session.updated")
        assert answer["session"]["audio"]["input"]["transcription"]["model"] == DEPLOYMENT_NAMED_TRANSCRIBER
    else:
        answer = accepted(await update(wire, {"input_audio_transcription": model}), "session.updated")
        assert answer["session"]["input_audio_transcription"]["model"] == DEPLOYMENT_NAMED_TRANSCRIBER


async def test_ga_session_type_transcription(emulator):
    async with connect(emulator, "ga", extra_query={"intent": "transcription"}) as conn:
        wire = Wire(conn, "ga")
        await wire.recv()
        body = {
            "type": "transcription",
            "audio": {"input": {"transcription": {"model": DEPLOYMENT_NAMED_TRANSCRIBER}}},
        }
        answer = accepted(await update(wire, body), "session.updated")
        assert answer["session"]["type"] == "transcription"
        assert answer["session"]["audio"]["input"]["transcription"]["model"] == DEPLOYMENT_NAMED_TRANSCRIBER
        assert not of_type(await wire.drain(), "error")


async def test_preview_transcription_session_update(emulator):
    # A standard model name: the preview SDK types transcription_session.updated's model as
    # whisper-1 | gpt-4o-transcribe | gpt-4o-mini-transcribe, so a deployment name cannot be echoed there.
    async with connect(emulator, "preview", extra_query={"intent": "transcription"}) as conn:
        wire = Wire(conn, "preview")
        await wire.recv()
        await conn.transcription_session.update(
            session={"input_audio_transcription": {"model": "gpt-4o-transcribe"}}
        )
        answer = (await wire.until("transcription_session.updated", "error"))[-1]
        answer = accepted(answer, "transcription_session.updated")
        assert answer["session"]["input_audio_transcription"]["model"] == "gpt-4o-transcribe"
        assert not of_type(await wire.drain(), "error")


@pytest.mark.parametrize("protocol", ["ga", "preview"])
async def test_quickstart_session_shape(wire, protocol):
    """The whole session a quickstart sends: GA nested audio.input/output, preview flat."""
    vad = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 200}
    if protocol == "ga":
        pcm = {"type": "audio/pcm", "rate": 24000}
        body = {
            "type": "realtime",
            "instructions": "You are a helpful assistant.",
            "output_modalities": ["audio"],
            "audio": {
                "input": {"format": pcm, "transcription": {"model": "whisper-1"}, "turn_detection": vad},
                "output": {"format": pcm, "voice": "alloy"},
            },
        }
        session = accepted(await update(wire, body), "session.updated")["session"]
        assert session["audio"]["output"]["voice"] == "alloy"
        assert session["audio"]["input"]["turn_detection"]["silence_duration_ms"] == 200
    else:
        body = {
            "instructions": "You are a helpful assistant.",
            "modalities": ["text", "audio"],
            "voice": "alloy",
            "input_audio_format": "pcm16",
            "output_audio_format": "pcm16",
            "input_audio_transcription": {"model": "whisper-1"},
            "turn_detection": vad,
        }
        session = accepted(await update(wire, body), "session.updated")["session"]
        assert session["voice"] == "alloy" and session["turn_detection"]["silence_duration_ms"] == 200
