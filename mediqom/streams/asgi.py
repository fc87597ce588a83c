"""SSE routes served straight on ASGI, in front of Django, for streams with many followers.

Django's request stack holds, per open stream, a thread (sync middleware such as WhiteNoise and
sync views run in a per-request thread that lives until the response ends) and, for a sync
view, a burst of database connections while many clients connect at once. A `StreamRoute`
does only what a stream needs: verify the token (Bearer header or the auth cookie), run the
route's `open()` (authorization, in `rls_context` on the stream threads, which keep their own
few database connections) and then stream. Each route still answers errors with the JSON
envelope and sends the /v1 CORS headers; anything that is not a GET of a route goes to Django.

    stream_routes.append(StreamRoute(r"^/v1/session/(?P<session_id>[0-9a-f-]{36})/stream$",
                                     open_session_stream))   # (user, **kwargs) -> StreamSpec
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest

from mediqom.api.exceptions import envelope
from mediqom.api.middleware import CORS_HEADERS, SAFE_REQUEST_ID
from mediqom.auth.middleware import authenticate_scope
from mediqom.auth.tokens import InvalidToken, SupabaseUser
from mediqom.errors import ApiError, NotAuthenticated
from mediqom.logging import get_logger, request_id_var
from mediqom.streams import db
from mediqom.streams.sse import EventStream, requested_since

log = get_logger("sse")

ASGIApp = Callable[..., Any]


@dataclass(frozen=True)
class StreamSpec:
    """What `open()` returns: the stream to follow and the `sse_response` options."""

    key: str
    initial: Callable[[], list[dict[str, Any]]] | None = None
    close_when: Callable[[dict[str, Any]], bool] | None = None
    snapshot: Callable[[], dict[str, Any]] | None = None


@dataclass(frozen=True)
class StreamRoute:
    """A GET path (regex with named groups) and its sync `open(user, **groups)`, which
    authorizes (raise NotFound for a stream that is not the caller's) and returns a spec."""

    pattern: str
    open: Callable[..., StreamSpec]

    def match(self, path: str) -> dict[str, str] | None:
        found = re.match(self.pattern, path)
        return None if found is None else found.groupdict()


def _demo_open(user: SupabaseUser, key: str) -> StreamSpec:
    from mediqom.streams.selectors import stream_get
    from mediqom.streams.services import validate_key

    stream_get(user=user, key=validate_key(key))
    return StreamSpec(key=key)


# Other apps register their stream endpoints here (see the module docstring).
stream_routes: list[StreamRoute] = [StreamRoute(r"^/v1/streams/(?P<key>[^/]+)/?$", _demo_open)]


def _request_id(scope: dict[str, Any]) -> str:
    """The proxy's X-Request-ID when sane, else a new one (as RequestIdMiddleware does)."""
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            incoming = bytes(value).decode("latin-1")
            if SAFE_REQUEST_ID.match(incoming):
                return incoming
    return uuid.uuid4().hex


def _is_secure(scope: dict[str, Any]) -> bool:
    if scope.get("scheme") == "https":
        return True
    proxy = settings.SECURE_PROXY_SSL_HEADER
    if proxy:
        wanted = proxy[0].removeprefix("HTTP_").lower().replace("_", "-").encode()
        return any(n == wanted and v.decode("latin-1") == proxy[1] for n, v in scope["headers"])
    return False


def _headers(scope: dict[str, Any], pairs: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """CORS, the request id and the security headers Django's middleware would have added."""
    headers = {
        **CORS_HEADERS,
        "X-Request-ID": request_id_var.get(),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": settings.X_FRAME_OPTIONS,
        "Referrer-Policy": settings.SECURE_REFERRER_POLICY or "same-origin",
        **pairs,
    }
    if settings.SECURE_HSTS_SECONDS and _is_secure(scope):
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            hsts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            hsts += "; preload"
        headers["Strict-Transport-Security"] = hsts
    return [(k.lower().encode(), v.encode()) for k, v in headers.items()]


async def _reply(
    scope: dict[str, Any], send: Any, status: int, body: dict[str, Any], extra: dict[str, str]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": _headers(scope, {"Content-Type": "application/json", **extra}),
        }
    )
    await send({"type": "http.response.body", "body": orjson.dumps(body)})


def _since(scope: dict[str, Any]) -> int:
    request = HttpRequest()
    for name, value in scope.get("headers", []):
        if name == b"last-event-id":
            request.META["HTTP_LAST_EVENT_ID"] = value.decode("latin-1")
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("since"):
        request.GET = request.GET.copy()
        request.GET["since"] = query["since"][-1]
    return requested_since(request)


def _open(route: StreamRoute, user: SupabaseUser, kwargs: dict[str, str]) -> StreamSpec:
    from mediqom.records.services import profile_ensure

    profile_ensure(user=user)
    return route.open(user, **kwargs)


async def _wait_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def serve(
    route: StreamRoute, kwargs: dict[str, str], scope: dict[str, Any], receive: Any, send: Any
) -> None:
    """Authenticate, authorize, then stream until the end, the client leaves or shutdown."""
    request_id_var.set(_request_id(scope))
    try:
        try:
            user = await sync_to_async(authenticate_scope, thread_sensitive=False)(scope)
        except InvalidToken:
            user = None
        if user is None:
            raise NotAuthenticated()
        since = _since(scope)
        spec = await db.run(_open, route, user, kwargs)
    except ApiError as exc:
        await _reply(
            scope, send, exc.status, envelope(exc.message, exc.code, exc.fields), exc.headers
        )
        return
    stream = EventStream(
        user=user,
        key=spec.key,
        since=since,
        initial=spec.initial,
        close_when=spec.close_when,
        snapshot=spec.snapshot,
    )
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": _headers(
                scope,
                {
                    "Content-Type": "text/event-stream",
                    "Cache-Control": "no-cache",
                    "X-Accel-Buffering": "no",
                },
            ),
        }
    )

    async def pump() -> None:
        # closed on any exit (a failed write too): its listener is released at once
        frames = stream.frames(release_request_connection=False, sink=send)
        async with contextlib.aclosing(frames):
            async for frame in frames:
                await send({"type": "http.response.body", "body": frame, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    tasks = [asyncio.ensure_future(pump()), asyncio.ensure_future(_wait_disconnect(receive))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task


class StreamRouter:
    """The HTTP application: GETs of a stream route are served here, the rest by Django."""

    def __init__(self, fallback: ASGIApp) -> None:
        self.fallback = fallback

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("method") == "GET":
            for route in stream_routes:
                kwargs = route.match(scope.get("path", ""))
                if kwargs is not None:
                    await serve(route, kwargs, scope, receive, send)
                    return
        await self.fallback(scope, receive, send)
