"""A managed identity token endpoint, so keyless clients get a token with no network.

An emulator convenience, not an Azure OpenAI endpoint: it answers the App Service flavour of
managed identity (`GET $IDENTITY_ENDPOINT?api-version=2019-08-01&resource=...` with the header
`X-IDENTITY-HEADER: $IDENTITY_HEADER`), which azure-identity's `ManagedIdentityCredential` (and
so `DefaultAzureCredential`) uses when both variables are set. The emulator then accepts the
tokens it issued as `Authorization: Bearer` credentials.
"""

from __future__ import annotations

import secrets
import time

from aiohttp import web

IDENTITY_PATH = "/msi/token"
IDENTITY_API_VERSION = "2019-08-01"
TOKEN_LIFETIME_S = 24 * 3600  # managed identity tokens last about a day


class TokenIssuer:
    """Issues opaque bearer tokens and remembers them until they expire."""

    def __init__(self) -> None:
        self.header_secret = secrets.token_urlsafe(24)
        self._expiry: dict[str, int] = {}

    def issue(self, now: float | None = None) -> tuple[str, int]:
        now = time.time() if now is None else now
        self._expiry = {t: exp for t, exp in self._expiry.items() if exp > now}
        token = "emulator-mi-" + secrets.token_urlsafe(32)
        expires_on = int(now) + TOKEN_LIFETIME_S
        self._expiry[token] = expires_on
        return token, expires_on

    def is_valid(self, token: str, now: float | None = None) -> bool:
        expires_on = self._expiry.get(token)
        return expires_on is not None and expires_on > (time.time() if now is None else now)


def _identity_error(status: int, error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


def make_token_route(issuer: TokenIssuer):
    async def token_route(request: web.Request) -> web.Response:
        if not secrets.compare_digest(request.headers.get("X-IDENTITY-HEADER", ""), issuer.header_secret):
            return _identity_error(401, "unauthorized", "the X-IDENTITY-HEADER header is missing or wrong")
        version = request.query.get("api-version")
        if version != IDENTITY_API_VERSION:
            return _identity_error(
                400, "invalid_request", f"api-version must be {IDENTITY_API_VERSION}, got {version!r}"
            )
        resource = request.query.get("resource")
        if not resource:
            return _identity_error(400, "invalid_request", "the 'resource' query parameter is required")
        token, expires_on = issuer.issue()
        return web.json_response(
            {
                "access_token": token,
                "expires_on": str(expires_on),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": "00000000-0000-0000-0000-000000000000",
            }
        )

    return token_route
