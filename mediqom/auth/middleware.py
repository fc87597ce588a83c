"""Channels middleware: the same Supabase token check for WebSocket and ASGI HTTP consumers.

A missing token leaves `scope["user"]` anonymous (the consumer closes with 4401); an invalid
token sets `scope["auth_error"]` so consumers reject the handshake the same way.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser
from django.http.cookie import parse_cookie

from mediqom.auth.tokens import InvalidToken, SupabaseUser, verify_token
from mediqom.auth.transport import token_from_request_parts
from mediqom.logging import get_logger

log = get_logger("auth")


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = (
            f"{headers[name]}; {value}" if name == "cookie" and name in headers else value
        )
    return headers


def _cookies(header: str) -> dict[str, str]:
    # Django's lenient parser, as for request.COOKIES: SimpleCookie drops every cookie once one
    # value is not RFC-clean (JSON, spaces), which would hide the auth cookie from WebSockets.
    return parse_cookie(header)


def authenticate_scope(scope: dict[str, Any]) -> SupabaseUser | None:
    """The verified user of an ASGI scope, None without a token; raises InvalidToken."""
    headers = _headers(scope)
    token = token_from_request_parts(
        headers.get("authorization"), _cookies(headers.get("cookie", ""))
    )
    return verify_token(token) if token else None


class SupabaseAuthMiddleware(BaseMiddleware):
    """Sets scope["user"] from the Bearer header or the Supabase auth cookie."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        scope = dict(scope)
        scope["user"] = AnonymousUser()
        try:
            # off the event loop: verification may wait on a JWKS fetch (up to its timeout)
            user = await sync_to_async(authenticate_scope, thread_sensitive=False)(scope)
        except InvalidToken as exc:
            log.info("rejected token on %s: %s", scope.get("type"), exc)
            scope["auth_error"] = True
            user = None
        if user is not None:
            from mediqom.records.services import profile_ensure

            await database_sync_to_async(profile_ensure)(user=user)
            scope["user"] = user
        return await super().__call__(scope, receive, send)
