"""Channels middleware: the same Supabase token check for WebSocket and ASGI HTTP consumers.

A missing token leaves `scope["user"]` anonymous (the consumer closes with 4401); an invalid
token sets `scope["auth_error"]` so consumers reject the handshake the same way.
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie
from typing import Any

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser

from mediqom.auth.tokens import InvalidToken, SupabaseUser, verify_token
from mediqom.auth.transport import token_from_request_parts
from mediqom.logging import get_logger

log = get_logger("auth")


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}; {value}" if name == "cookie" and name in headers else value
    return headers


def _cookies(header: str) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def authenticate_scope(scope: dict[str, Any]) -> SupabaseUser | None:
    """The verified user of an ASGI scope, None without a token; raises InvalidToken."""
    headers = _headers(scope)
    token = token_from_request_parts(headers.get("authorization"), _cookies(headers.get("cookie", "")))
    return verify_token(token) if token else None


class SupabaseAuthMiddleware(BaseMiddleware):
    """Sets scope["user"] from the Bearer header or the Supabase auth cookie."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        scope = dict(scope)
        scope["user"] = AnonymousUser()
        try:
            user = authenticate_scope(scope)
        except InvalidToken as exc:
            log.info("rejected token on %s: %s", scope.get("type"), exc)
            scope["auth_error"] = True
            user = None
        if user is not None:
            from mediqom.records.services import profile_ensure

            await database_sync_to_async(profile_ensure)(user=user)
            scope["user"] = user
        return await super().__call__(scope, receive, send)
