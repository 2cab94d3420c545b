"""The WebRTC endpoints: ephemeral keys (`client_secrets`), calls (SDP offer in, answer out) and the
sideband WebSocket that joins a call by its id. The facts they follow are in docs/emulator-fidelity.md.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from . import session_config
from .admission import CTX_KEY, credential, error_response, not_found
from .errors import ServiceError
from .webrtc_call import Call
from .wire import new_id

CALLS_PATH = "/openai/v1/realtime/calls"
DEFAULT_EXPIRY_S = 600
MIN_EXPIRY_S, MAX_EXPIRY_S = 10, 7200
DEFAULT_DEPLOYMENT = "gpt-realtime"
EPHEMERAL_PREFIX = "ek_"


@dataclass
class _Secret:
    expires_at: float
    session: dict[str, Any]


@dataclass
class Calls:
    """The emulator's ephemeral keys and live calls (one per application)."""

    secrets: dict[str, _Secret] = field(default_factory=dict)
    live: dict[str, Call] = field(default_factory=dict)

    def secret(self, value: str | None) -> _Secret | None:
        found = self.secrets.get(value or "")
        if found is None or found.expires_at <= time.time():
            return None
        return found

    def forget(self, call: Call) -> None:
        self.live.pop(call.id, None)

    async def close_all(self, app: web.Application) -> None:
        for call in list(self.live.values()):
            await call.close()
        self.live.clear()


CALLS_KEY: web.AppKey[Calls] = web.AppKey("calls", Calls)


# A page posts its offer straight to the service from another origin (the notebook's): answers carry
# CORS headers, and `Location` is exposed so the page can read the call id.
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Location",
}


async def calls_preflight(request: web.Request) -> web.Response:
    return web.Response(
        status=204,
        headers={
            **CORS_HEADERS,
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": "Authorization, Content-Type, api-key",
            "Access-Control-Max-Age": "600",
        },
    )


@web.middleware
async def cors(request: web.Request, handler: Any) -> web.StreamResponse:
    response = await handler(request)
    if request.path == CALLS_PATH and not response.prepared:
        response.headers.update(CORS_HEADERS)
    return response


def _unauthorized(what: str) -> web.Response:
    return error_response(401, "401", what)


def _bad_request(message: str, param: str | None = None) -> web.Response:
    body = {
        "error": {
            "type": "invalid_request_error",
            "code": "invalid_value",
            "message": message,
            "param": param,
        }
    }
    return web.json_response(body, status=400)


async def client_secrets(request: web.Request) -> web.Response:
    """Mint an ephemeral key with the resource's key (or an Entra token); never with another ephemeral key."""
    ctx = request.app[CTX_KEY]
    if not ctx.accepts(credential(request)) or request.app[CALLS_KEY].secret(credential(request)):
        return _unauthorized(
            "Access denied: create client secrets with the resource's API key or an Entra token, not an ephemeral key."
        )
    try:
        body = await request.json() if request.can_read_body else {}
    except json.JSONDecodeError as exc:
        return _bad_request(f"The body is not valid JSON: {exc}.")
    if not isinstance(body, dict):
        return _bad_request("The body must be a JSON object with an optional 'session' and 'expires_after'.")
    expiry = body.get("expires_after") or {}
    seconds = expiry.get("seconds", DEFAULT_EXPIRY_S) if isinstance(expiry, dict) else None
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int)
        or not MIN_EXPIRY_S <= seconds <= MAX_EXPIRY_S
    ):
        return _bad_request(
            f"expires_after.seconds must be an integer from {MIN_EXPIRY_S} to {MAX_EXPIRY_S}, got {seconds!r}.",
            "expires_after.seconds",
        )
    patch = body.get("session") or {}
    if not isinstance(patch, dict):
        return _bad_request("'session' must be an object.", "session")
    if patch.get("type", "realtime") != "realtime":
        return _bad_request("The emulator mints client secrets for realtime sessions only.", "session.type")
    deployment = patch.get("model") or DEFAULT_DEPLOYMENT
    session = session_config.default_session("ga", deployment, new_id("sess"))
    fields = {k: v for k, v in patch.items() if k != "model"}
    try:
        session = session_config.apply_update("ga", session, {"type": "realtime", **fields})
    except ServiceError as exc:
        return web.json_response({"error": exc.body(None)}, status=400)
    expires_at = int(time.time()) + seconds
    value = EPHEMERAL_PREFIX + secrets.token_urlsafe(24)
    request.app[CALLS_KEY].secrets[value] = _Secret(expires_at, {**patch, "model": deployment})
    return web.json_response({"value": value, "expires_at": expires_at, "session": session})


async def create_call(request: web.Request) -> web.Response:
    """`POST /openai/v1/realtime/calls`: an SDP offer (raw `application/sdp`, or the SDK's multipart
    `sdp` + `session`), authorised by an ephemeral key or the resource's key; 201 with the answer."""
    ctx = request.app[CTX_KEY]
    calls = request.app[CALLS_KEY]
    given = credential(request)
    secret = calls.secret(given)
    # An `ek_` key is an ephemeral one: it must be live; anything else must be the resource's key.
    if secret is None and ((given or "").startswith(EPHEMERAL_PREFIX) or not ctx.accepts(given)):
        expired = given in calls.secrets
        return _unauthorized(
            "The ephemeral key has expired; mint a new one with client_secrets."
            if expired
            else "Access denied: post the SDP offer with an ephemeral key from client_secrets."
        )
    patch: dict[str, Any] = dict(secret.session) if secret else {}
    if request.content_type.startswith("multipart/"):
        form = await request.post()
        offer = _text(form.get("sdp"))
        session = _text(form.get("session"))
        if session:
            try:
                patch.update(json.loads(session))
            except json.JSONDecodeError as exc:
                return _bad_request(f"The 'session' part is not valid JSON: {exc}.", "session")
    else:
        offer = await request.text()
    if not isinstance(offer, str) or not offer.startswith("v=0"):
        return _bad_request(
            "The body must be an SDP offer (Content-Type: application/sdp, starting with 'v=0').", "sdp"
        )
    deployment = patch.get("model") or request.query.get("model") or DEFAULT_DEPLOYMENT
    filtered = request.query.get("webrtcfilter", "off").lower() in ("on", "true", "1")
    call = Call(ctx, request, deployment, filtered)
    try:
        call.configure(patch)
        answer = await call.answer(offer)
    except ServiceError as exc:
        await call.close()
        return web.json_response({"error": exc.body(None)}, status=400)
    except ValueError as exc:
        await call.close()
        return _bad_request(f"The SDP offer could not be used: {exc}.", "sdp")
    calls.live[call.id] = call
    call.on_end = calls.forget
    return web.Response(
        status=201,
        text=answer,
        content_type="application/sdp",
        headers={"Location": f"/v1/realtime/calls/{call.id}"},
    )


def _text(part: Any) -> str | None:
    """A multipart field's text, whether sent as a plain field or as a file part (the SDK's way)."""
    if isinstance(part, web.FileField):
        return part.file.read().decode("utf-8", "replace")
    if isinstance(part, (bytes, bytearray)):  # aiohttp keeps a non-text part (application/sdp) as bytes
        return bytes(part).decode("utf-8", "replace")
    return part if isinstance(part, str) else None


async def sideband(request: web.Request, call_id: str) -> web.StreamResponse:
    """`/openai/v1/realtime?call_id=...`: a server joins a live call; it sees every event and its
    client events enter the same session."""
    ctx = request.app[CTX_KEY]
    if not ctx.accepts(credential(request)):
        return _unauthorized("Access denied: join a call with the resource's API key or an Entra token.")
    call = request.app[CALLS_KEY].live.get(call_id)
    if call is None:
        return not_found()
    ws = web.WebSocketResponse(max_msg_size=ctx.limits.max_frame_bytes)
    await ws.prepare(request)
    call.wire.sidebands.add(ws)
    try:
        async for msg in ws:
            await call.wire.inbox.put(msg)
    finally:
        call.wire.sidebands.discard(ws)
    return ws


def add_routes(app: web.Application) -> None:
    app[CALLS_KEY] = Calls()
    app.router.add_post("/openai/v1/realtime/client_secrets", client_secrets)
    app.router.add_post(CALLS_PATH, create_call)
    app.router.add_route("OPTIONS", CALLS_PATH, calls_preflight)
    app.middlewares.append(cors)
    app.on_shutdown.append(app[CALLS_KEY].close_all)
