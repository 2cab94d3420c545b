"""Audio chat completions: `POST .../chat/completions` answering like the service.

With `stream: true` the answer comes as server-sent `chat.completion.chunk` events: transcript
words and base64 PCM16 pieces in `delta.audio` (streaming audio is pcm16 only, as on the
service), then the audio's expiry, the finish reason, usage when `stream_options.include_usage`,
and `data: [DONE]`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
from aiohttp import web

from ..protocol import (
    CHAT_API_VERSIONS,
    COMPLETION_INPUT_FORMATS,
    COMPLETION_OUTPUT_FORMATS,
    MAX_AUDIO_FILE_BYTES,
    SAMPLE_RATE,
    VOICES,
)
from . import audio_io, recognizer
from .admission import CTX_KEY, check_request, error_response, not_found
from .errors import ServiceError
from .limits import Limits, check_depth, timeout
from .replies import Prompt, reply_for
from .voice import synthesize

AUDIO_TTL_S = 3600  # message.audio.expires_at: how long a reply's audio id may be referenced
STREAM_AUDIO_BYTES = 9600  # PCM16 per streamed audio delta: 0.2 s at 24 kHz


def _error(exc: ServiceError) -> web.Response:
    body = exc.body()
    del body["event_id"]  # a realtime-only field
    return web.json_response({"error": body}, status=exc.status)


async def deployments_route(request: web.Request) -> web.StreamResponse:
    deployment = request.match_info["deployment"]
    version = request.query.get("api-version")
    if not version:
        # Azure routes dated paths by api-version: without one the path does not exist
        # (MicrosoftDocs/azure-docs#114602), whatever the key.
        request.app[CTX_KEY].stats.rejected_handshakes += 1
        return not_found()
    problem = check_request(request, deployment)
    if problem is not None:
        return problem
    if version not in CHAT_API_VERSIONS:
        request.app[CTX_KEY].stats.rejected_handshakes += 1
        # Azure's words for a version it does not serve (quoted in hotovo/aider-desk#460).
        return error_response(400, "BadRequest", "API version not supported")
    return await _complete(request, deployment)


async def v1_route(request: web.Request) -> web.StreamResponse:
    problem = check_request(request, None)
    if problem is not None:
        return problem
    return await _complete(request, None)


async def _complete(request: web.Request, deployment: str | None) -> web.StreamResponse:
    ctx = request.app[CTX_KEY]
    ctx.stats.completion_requests += 1
    try:
        body = await _read_json(request, ctx.limits)
        if deployment is None:
            deployment = body.get("model")
            if not isinstance(deployment, str) or not deployment:
                raise ServiceError(
                    "'model' (the deployment name) is required.",
                    param="model",
                    status=400,
                    code="missing_required_parameter",
                )
            problem = check_request(request, deployment) if ctx.deployments is not None else None
            if problem is not None:
                return problem
        if ctx.replay is not None:
            status, completion = ctx.replay.answer_chat(body)
            if status != 200:
                return web.json_response(completion, status=status)
            if isinstance(completion, list):  # a streamed reply: its chunks as they came
                return await _stream_chunks(request, completion)
        else:
            completion = await _answer(ctx, body, deployment)
    except ServiceError as exc:
        answer = _error(exc)
        if exc.status in (408, 413):
            # Answer, then close without waiting (aiohttp would linger 10 s) for the rest of the body.
            await answer.prepare(request)
            await answer.write_eof()
            request.protocol.force_close()
        return answer
    if body.get("stream") is not True:
        return web.json_response(completion)
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    return await _stream_chunks(request, _chunks(completion, include_usage))


async def _stream_chunks(request: web.Request, chunks: Iterable[dict[str, Any]]) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    for chunk in chunks:
        await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


async def _read_json(request: web.Request, limits: Limits) -> dict[str, Any]:
    """The request's JSON object: of the JSON media type, within the size, time and depth limits."""
    if request.content_type != "application/json":
        raise ServiceError(
            f"Unsupported Content-Type '{request.content_type}': send the request body as JSON with "
            "'Content-Type: application/json'.",
            status=415,
            code="unsupported_media_type",
        )
    size = request.content_length
    if size is not None and size > limits.max_request_bytes:
        raise _too_large(limits.max_request_bytes)
    try:
        async with timeout(limits.handshake_timeout_s):
            raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise _too_large(limits.max_request_bytes) from None
    except asyncio.TimeoutError:
        raise ServiceError(
            f"The request body did not arrive within {limits.handshake_timeout_s:g} seconds.",
            status=408,
            code="request_timeout",
        ) from None
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        depth = isinstance(exc, RecursionError)
        raise ServiceError(
            f"The request body nests arrays and objects deeper than {limits.max_json_depth} levels."
            if depth
            else f"The request body is not valid JSON ({exc}).",
            code="invalid_json",
        ) from None
    if not isinstance(body, dict):
        raise ServiceError("The request body must be a JSON object.", code="invalid_type")
    check_depth(body, limits.max_json_depth)
    if body.get("stream_options") is not None and not isinstance(body["stream_options"], dict):
        raise ServiceError(
            f"'stream_options' must be an object, got {body['stream_options']!r}.",
            param="stream_options",
            code="invalid_type",
        )
    return body


def _too_large(limit: int) -> ServiceError:
    return ServiceError(
        f"The request body is larger than {limit} bytes; send less audio per request.",
        status=413,
        code="request_too_large",
    )


def _chunks(completion: dict[str, Any], include_usage: bool) -> Iterator[dict[str, Any]]:
    """The completion as the service streams it: role, then words and audio pieces, then the end."""
    head = {key: completion[key] for key in ("id", "created", "model", "system_fingerprint")}
    head["object"] = "chat.completion.chunk"

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return {**head, "choices": [choice], "usage": None}

    message = completion["choices"][0]["message"]
    audio = message.get("audio")
    yield chunk({"role": "assistant", "content": None if audio else "", "refusal": None})
    if audio is None:
        for i, word in enumerate((message["content"] or "").split()):
            yield chunk({"content": word if i == 0 else " " + word})
    else:
        words = audio["transcript"].split()
        pcm = base64.b64decode(audio["data"])
        pieces = [pcm[i : i + STREAM_AUDIO_BYTES] for i in range(0, len(pcm), STREAM_AUDIO_BYTES)] or [b""]
        said = 0
        for k, piece in enumerate(pieces):
            # Words run a little ahead of the audio they describe, as on the service.
            while said < len(words) and said < (k + 1) * len(words) / len(pieces):
                text = words[said] if said == 0 else " " + words[said]
                yield chunk({"audio": {"id": audio["id"], "transcript": text}})
                said += 1
            yield chunk({"audio": {"id": audio["id"], "data": base64.b64encode(piece).decode()}})
        yield chunk({"audio": {"id": audio["id"], "expires_at": audio["expires_at"]}})
    yield chunk({}, "stop")
    if include_usage:
        yield {**head, "choices": [], "usage": completion["usage"]}


async def _answer(ctx: Any, body: dict[str, Any], deployment: str) -> dict[str, Any]:
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ServiceError(
            f"'stream' must be a boolean, got {stream!r}.", param="stream", status=400, code="invalid_type"
        )
    modalities = body.get("modalities") or ["text"]
    if (
        not isinstance(modalities, list)
        or not all(isinstance(m, str) for m in modalities)
        or not set(modalities) <= {"text", "audio"}
        or "text" not in modalities
    ):
        raise ServiceError(
            f'\'modalities\' must be ["text"] or ["text", "audio"], got {modalities!r}.', param="modalities"
        )
    want_audio = "audio" in modalities
    audio_opts = body.get("audio")
    voice, fmt = "alloy", "wav"
    if want_audio:
        if not isinstance(audio_opts, dict):
            raise ServiceError(
                'Audio output requires the \'audio\' parameter, e.g. {"voice": "alloy", "format": "wav"}.',
                param="audio",
                status=400,
                code="missing_required_parameter",
            )
        asked_voice, asked_fmt = audio_opts.get("voice"), audio_opts.get("format")
        if asked_voice not in VOICES:
            raise ServiceError(
                f"audio.voice must be one of {', '.join(VOICES)}, got {asked_voice!r}.", param="audio.voice"
            )
        if asked_fmt not in COMPLETION_OUTPUT_FORMATS:
            raise ServiceError(
                f"audio.format must be one of {', '.join(COMPLETION_OUTPUT_FORMATS)}, got {asked_fmt!r}.",
                param="audio.format",
            )
        voice, fmt = str(asked_voice), str(asked_fmt)
        if stream and fmt != "pcm16":
            raise ServiceError(
                f"audio.format {fmt!r} is not supported with stream=true; streamed audio is 'pcm16'.",
                param="audio.format",
                status=400,
                code="unsupported_value",
            )
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ServiceError(
            "'messages' must be a non-empty array.",
            param="messages",
            status=400,
            code="missing_required_parameter",
        )

    store = ctx.audio_store
    now = time.time()
    for key in [k for k, (exp, _) in store.items() if exp < now]:
        del store[key]
    user_text: str | None = None
    user_audio: np.ndarray | None = None
    instructions: list[str] = []
    prompt_text_words = 0
    total_audio_bytes = 0
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in (
            "system",
            "developer",
            "user",
            "assistant",
            "tool",
        ):
            raise ServiceError(
                f"messages[{i}] must be an object with a role of system, developer, user, assistant or tool.",
                param=f"messages[{i}].role",
            )
        audio_ref = msg.get("audio")
        if msg["role"] == "assistant" and audio_ref is not None:
            ref = audio_ref.get("id") if isinstance(audio_ref, dict) else None
            if not isinstance(ref, str):
                raise ServiceError(
                    f"messages[{i}].audio.id must be the id of an earlier reply's audio (a string), got {ref!r}.",
                    param=f"messages[{i}].audio.id",
                    code="invalid_type",
                )
            if ref not in store:
                raise ServiceError(
                    f"Audio with id {ref!r} was not found or has expired.",
                    param=f"messages[{i}].audio.id",
                    status=400,
                    code="audio_not_found",
                )
            prompt_text_words += len(store[ref][1].split())
        content = msg.get("content")
        texts: list[str] = []
        audio_parts: list[np.ndarray] = []
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            for j, part in enumerate(content):
                param = f"messages[{i}].content[{j}]"
                ptype = part.get("type") if isinstance(part, dict) else None
                if ptype == "text" and isinstance(part.get("text"), str):
                    texts.append(part["text"])
                elif ptype == "input_audio" and msg["role"] == "user":
                    audio_parts.append(await _decode_part(part.get("input_audio"), param, total_audio_bytes))
                    total_audio_bytes += len(audio_parts[-1]) * 2
                else:
                    raise ServiceError(
                        f"{param} must be a text part or (for user messages) an input_audio part.",
                        param=param,
                    )
        elif content is not None:
            raise ServiceError(
                f"messages[{i}].content must be a string or an array of parts.",
                param=f"messages[{i}].content",
            )
        prompt_text_words += sum(len(t.split()) for t in texts)
        if msg["role"] in ("system", "developer"):
            instructions.extend(texts)
        if msg["role"] == "user":
            user_text = " ".join(texts) if texts else None
            user_audio = np.concatenate(audio_parts) if audio_parts else None

    seconds = 0.0
    heard: str | None = None
    if user_audio is not None and len(user_audio):
        seconds = len(user_audio) / SAMPLE_RATE
        # With audio, the text part is a request about it ("describe this"): the reply is about
        # what was heard, as a model's would be.
        heard = (await recognizer.transcribe_async(user_audio) if ctx.recognize else None) or None
    prompt = Prompt(" ".join(instructions), user_text, heard, seconds)
    reply = await reply_for(ctx.reply, prompt)

    message: dict[str, Any] = {"role": "assistant", "content": reply, "refusal": None, "annotations": []}
    audio_tokens_out = 0
    if want_audio:
        pcm = await asyncio.get_running_loop().run_in_executor(None, synthesize, reply, voice)
        data = await asyncio.get_running_loop().run_in_executor(None, audio_io.encode, pcm, fmt)
        audio_id = f"audio_{uuid.uuid4().hex[:24]}"
        expires = int(now) + AUDIO_TTL_S
        store[audio_id] = (expires, reply)
        message["content"] = None
        message["audio"] = {
            "id": audio_id,
            "data": base64.b64encode(data).decode(),
            "expires_at": expires,
            "transcript": reply,
        }
        audio_tokens_out = int(round(len(pcm) / SAMPLE_RATE * 20))
    audio_tokens_in = int(round(seconds * 10))
    prompt_tokens = int(prompt_text_words * 1.3) + 3 * len(messages) + audio_tokens_in
    completion_tokens = int(len(reply.split()) * 1.3) + 1 + audio_tokens_out
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(now),
        "model": deployment,
        "system_fingerprint": "fp_emulator",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": audio_tokens_in},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": audio_tokens_out,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
    }


async def _decode_part(value: Any, param: str, so_far: int) -> np.ndarray:
    if not isinstance(value, dict) or not isinstance(value.get("data"), str):
        raise ServiceError(
            f'{param}.input_audio must be {{"data": base64, "format": "wav" | "mp3"}}.',
            param=f"{param}.input_audio",
        )
    fmt = value.get("format")
    if fmt not in COMPLETION_INPUT_FORMATS:
        raise ServiceError(
            f"{param}.input_audio.format must be one of {', '.join(COMPLETION_INPUT_FORMATS)}, got {fmt!r}.",
            param=f"{param}.input_audio.format",
        )
    if len(value["data"]) * 3 // 4 + so_far > MAX_AUDIO_FILE_BYTES:
        raise ServiceError(
            f"Audio input is larger than the maximum of {MAX_AUDIO_FILE_BYTES // (1024 * 1024)} MB per request; send shorter audio.",
            param=f"{param}.input_audio.data",
            status=413,
            code="audio_too_large",
        )
    try:
        raw = base64.b64decode(value["data"], validate=True)
    except (binascii.Error, ValueError):
        raise ServiceError(
            f"{param}.input_audio.data is not valid base64.", param=f"{param}.input_audio.data"
        ) from None
    try:
        return await asyncio.get_running_loop().run_in_executor(None, audio_io.decode, raw, fmt)
    except ValueError as exc:
        raise ServiceError(
            f"{param}.input_audio: {exc}. Check that the data really is {fmt}.",
            param=f"{param}.input_audio.data",
        ) from None
