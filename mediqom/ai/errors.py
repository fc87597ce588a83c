"""Errors of the AI layer: both carry a stable code and never a prompt, document or key."""

from __future__ import annotations

from mediqom.errors import ApiError


class AIError(ApiError):
    """Base of the AI layer's errors (renders as the one error envelope if it reaches a view)."""

    status = 503
    code = "ai_error"
    default_message = "AI processing is unavailable"


class AIUnavailable(AIError):
    """No provider is configured for the flow (no key, no base URL) and no local function."""

    status = 503
    code = "ai_unavailable"
    default_message = "No AI provider is configured for this task"


class AIProviderError(AIError):
    """Every configured provider failed (error status, timeout, unusable output).

    `code` tells why the last attempt failed: ai_timeout, ai_provider_error,
    ai_invalid_output; `attempts` lists (provider, model, code) of every attempt.
    """

    status = 502
    code = "ai_provider_error"
    default_message = "The AI provider failed"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        attempts: list[tuple[str, str, str]] | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.attempts = attempts or []
