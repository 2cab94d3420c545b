"""What every route checks before doing any work, and the error bodies it answers with, shaped like
Azure's: the credential (header, query or WebSocket subprotocol), the fault settings' 429s, a known
deployment. The WebSocket, completions and WebRTC routes all share these.
"""

from __future__ import annotations

import json

from aiohttp import web

from .context import Context

CTX_KEY: web.AppKey[Context] = web.AppKey("ctx", Context)
# Browsers cannot set headers on a WebSocket; they pass the key as a subprotocol instead.
_KEY_SUBPROTOCOL = "openai-insecure-api-key."


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = json.dumps({"error": {"code": code, "message": message}})
    return web.Response(status=status, text=body, content_type="application/json", headers=headers)


def credential(request: web.Request) -> str | None:
    key = request.headers.get("api-key")
    if key:
        return key
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer ") and auth[7:].strip():
        return auth[7:].strip()
    if request.query.get("api-key"):
        return request.query["api-key"]
    for proto in request.headers.get("Sec-WebSocket-Protocol", "").split(","):
        proto = proto.strip()
        if proto.startswith(_KEY_SUBPROTOCOL):
            return proto[len(_KEY_SUBPROTOCOL) :]
    return None


def check_request(request: web.Request, deployment: str | None) -> web.Response | None:
    """The error Azure would answer before doing any work, or None when the request may go on."""
    ctx = request.app[CTX_KEY]
    if ctx.faults.take_429():
        ctx.stats.rejected_handshakes += 1
        retry = str(ctx.faults.retry_after_s)
        return error_response(
            429,
            "429",
            f"Requests to this deployment have exceeded the rate limit of the emulator's fault settings. Please retry after {retry} seconds.",
            {"Retry-After": retry, "retry-after-ms": str(int(ctx.faults.retry_after_s * 1000))},
        )
    if not ctx.accepts(credential(request)):
        ctx.stats.rejected_handshakes += 1
        return error_response(
            401,
            "401",
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
        )
    if deployment is not None and ctx.deployments is not None and deployment not in ctx.deployments:
        ctx.stats.rejected_handshakes += 1
        return error_response(
            404,
            "DeploymentNotFound",
            f"The API deployment '{deployment}' for this resource does not exist. Known deployments: {', '.join(ctx.deployments)}.",
        )
    return None


# Azure answers a path it does not serve with this body (openai/openai-python#362 quotes it).
NOT_FOUND_MESSAGE = "Resource not found"


def not_found() -> web.Response:
    return error_response(404, "404", NOT_FOUND_MESSAGE)
