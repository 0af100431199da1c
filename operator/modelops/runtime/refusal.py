"""The one error the model server's request parsing raises (its own module so every parser can share it)."""

from __future__ import annotations

from modelops.errors import ModelopsError


class InvalidRequest(ModelopsError, ValueError):
    """A request the server refuses; `status` is the HTTP code, `reason` a fixed label value."""

    def __init__(self, reason: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status
