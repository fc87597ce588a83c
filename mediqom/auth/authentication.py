"""DRF authentication through Supabase access tokens (Bearer header or auth cookie)."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from mediqom.auth.tokens import InvalidToken, SupabaseUser, verify_token
from mediqom.auth.transport import token_from_request_parts
from mediqom.logging import get_logger

log = get_logger("auth")


class SupabaseJWTAuthentication(BaseAuthentication):
    """Verifies the caller's Supabase JWT; a bad token is a 401, never an anonymous request."""

    def authenticate(self, request: Request) -> tuple[SupabaseUser, dict[str, Any]] | None:
        try:
            token = token_from_request_parts(
                request.META.get("HTTP_AUTHORIZATION"), request.COOKIES
            )
            if token is None:
                return None
            user = verify_token(token)
        except InvalidToken as exc:
            log.info("rejected token: %s", exc)
            raise exceptions.AuthenticationFailed() from exc
        view = (getattr(request, "parser_context", None) or {}).get("view")
        if not getattr(view, "ensures_profile", False):
            from mediqom.records.services import profile_ensure

            profile_ensure(user=user)
        return user, user.claims

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="mediqom"'


from mediqom.auth import schema as _schema  # noqa: E402,F401 - registers the OpenAPI scheme
