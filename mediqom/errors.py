"""Domain errors. App code raises them; the API exception handler renders one envelope:

{"message": "...", "code": "snake_case", "fields": {...}}
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the client should see, with an HTTP status and a stable snake_case code."""

    status = 400
    code = "invalid"
    default_message = "Invalid request"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        fields: dict[str, Any] | None = None,
        legacy_error: bool = False,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.default_message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.fields = fields or {}
        # Endpoints whose reference answered `{success: false, error: "..."}` keep those keys.
        self.legacy_error = legacy_error
        self.headers = headers or {}
        # More top-level keys some reference answers carry (e.g. beta's `details`, `status`).
        self.extra = extra or {}
        super().__init__(self.message)


class InvalidInput(ApiError):
    status = 400
    code = "invalid"


class NotAuthenticated(ApiError):
    status = 401
    code = "not_authenticated"
    default_message = "Unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "permission_denied"
    default_message = "Forbidden"


class NotFound(ApiError):
    """A missing row and a row outside the caller's scope look exactly the same."""

    status = 404
    code = "not_found"
    default_message = "Not found"


class Conflict(ApiError):
    status = 409
    code = "conflict"
    default_message = "Conflict"


class PayloadTooLarge(ApiError):
    status = 413
    code = "request_too_large"
    default_message = "Request body is too large"


class RateLimited(ApiError):
    status = 429
    code = "rate_limited"
    default_message = "Too many attempts, try again later"

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message, headers={"Retry-After": str(max(int(retry_after), 1))})
