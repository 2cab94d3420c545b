"""The one error type of the emulator: a request the service refuses.

Realtime sessions send it as an `error` event and keep the connection; REST routes answer it as
Azure's JSON error body with its HTTP status. `code`, `param` and `status` are keywords, so no call
site can swap them.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    def __init__(
        self,
        message: str,
        *,
        code: str | None = "invalid_value",
        param: str | None = None,
        status: int = 400,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.code = code
        self.param = param
        self.status = status
        self.type = type

    def body(self, event_id: str | None = None) -> dict[str, Any]:
        """The `error` object as the realtime wire carries it (`event_id` names the client event)."""
        return {
            "type": self.type,
            "code": self.code,
            "message": str(self),
            "param": self.param,
            "event_id": event_id,
        }
