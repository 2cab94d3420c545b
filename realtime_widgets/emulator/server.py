"""The aiohttp application: routes, authentication and handshake errors shaped like Azure's."""

from __future__ import annotations

from typing import Any

from aiohttp import WSCloseCode, web

from ..protocol import REALTIME_PREVIEW_API_VERSIONS, Protocol
from . import completions
from .admission import CTX_KEY, check_request, error_response, not_found
from .calls import add_routes as add_webrtc_routes
from .calls import sideband
from .context import Context
from .identity import IDENTITY_PATH, make_token_route
from .realtime import RealtimeSession


class _Socket(web.WebSocketResponse):
    """aiohttp closes an oversized message with 1009 and no reason; this one says the limit."""

    async def close(self, *, code: int = WSCloseCode.OK, message: bytes = b"", drain: bool = True) -> bool:
        if code == WSCloseCode.MESSAGE_TOO_BIG and not message:
            message = f"message too big: limit {self._max_msg_size} bytes".encode()
        return await super().close(code=code, message=message, drain=drain)


async def realtime_ga(request: web.Request) -> web.StreamResponse:
    call_id = request.query.get("call_id")
    if call_id:  # a sideband connection to a WebRTC call
        return await sideband(request, call_id)
    deployment = request.query.get("model") or request.query.get("deployment")
    if not deployment and request.query.get("intent") == "transcription":
        # A transcription session names its model in session.update, not on the URL (OpenAI GA).
        problem = check_request(request, None)
        return problem or await _realtime(request, "ga", "transcription", checked=True)
    return await _realtime(request, "ga", deployment)


async def realtime_preview(request: web.Request) -> web.StreamResponse:
    version = request.query.get("api-version")
    ctx = request.app[CTX_KEY]
    problem = check_request(request, request.query.get("deployment"))
    if problem is not None:
        return problem
    if not version or version not in REALTIME_PREVIEW_API_VERSIONS:
        ctx.stats.rejected_handshakes += 1
        what = (
            f"Unsupported api-version '{version}'"
            if version
            else "Missing required query parameter 'api-version'"
        )
        return error_response(
            400, "BadRequest", f"{what}. Supported versions: {', '.join(REALTIME_PREVIEW_API_VERSIONS)}."
        )
    return await _realtime(request, "preview", request.query.get("deployment"), checked=True)


async def _realtime(
    request: web.Request, protocol: Protocol, deployment: str | None, checked: bool = False
) -> web.StreamResponse:
    ctx = request.app[CTX_KEY]
    if not checked:
        problem = check_request(request, deployment)
        if problem is not None:
            return problem
    if not deployment:
        ctx.stats.rejected_handshakes += 1
        param = "model" if protocol == "ga" else "deployment"
        return error_response(
            400, "BadRequest", f"Missing required query parameter '{param}' (the deployment name)."
        )
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    # aiohttp refuses an oversized frame from its header, before reading the payload.
    ws = _Socket(
        max_msg_size=ctx.limits.max_frame_bytes,
        protocols=[p for p in offered if p == "realtime"],
        autoping=True,
    )
    await ws.prepare(request)
    if ctx.replay is not None:
        await ctx.replay.serve(ws, protocol)
        return ws
    await RealtimeSession(ws, request, protocol, deployment, ctx).run()
    return ws


async def index(request: web.Request) -> web.Response:
    ctx = request.app[CTX_KEY]
    info: dict[str, Any] = {
        "service": "realtime_widgets emulator",
        "realtime_ga": "/openai/v1/realtime?model=DEPLOYMENT",
        "realtime_preview": "/openai/realtime?api-version=VERSION&deployment=DEPLOYMENT",
        "chat_completions": [
            "/openai/deployments/DEPLOYMENT/chat/completions?api-version=VERSION",
            "/openai/v1/chat/completions",
        ],
        "webrtc": {
            "client_secrets": "POST /openai/v1/realtime/client_secrets",
            "calls": "POST /openai/v1/realtime/calls[?webrtcfilter=on]",
            "sideband": "/openai/v1/realtime?call_id=CALL_ID",
        },
        "live_sessions": ctx.stats.live_sessions,
    }
    return web.json_response(info)


@web.middleware
async def azure_shaped_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """aiohttp's own text answers for unrouted requests become Azure's JSON error body."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return not_found()
    except web.HTTPMethodNotAllowed as exc:
        allow = ", ".join(sorted(exc.allowed_methods))
        return error_response(
            405, "405", f"The method {request.method} is not allowed here; use {allow}.", {"Allow": allow}
        )


def build_app(ctx: Context) -> web.Application:
    app = web.Application(client_max_size=ctx.limits.max_request_bytes, middlewares=[azure_shaped_errors])
    app[CTX_KEY] = ctx
    app.router.add_get("/", index)
    app.router.add_get(IDENTITY_PATH, make_token_route(ctx.tokens))
    app.router.add_get("/openai/v1/realtime", realtime_ga)
    app.router.add_get("/openai/realtime", realtime_preview)
    app.router.add_post("/openai/deployments/{deployment}/chat/completions", completions.deployments_route)
    app.router.add_post("/openai/v1/chat/completions", completions.v1_route)
    add_webrtc_routes(app)
    return app
