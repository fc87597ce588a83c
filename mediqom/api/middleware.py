"""Request id, CORS for /v1 (contract §1.1 plus PATCH), trailing-slash-insensitive /v1 routes."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse

from mediqom.logging import request_id_var

Handler = Callable[[HttpRequest], Any]
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "Content-Type, Authorization",
}
CORS_PREFLIGHT = {
    **CORS_HEADERS,
    "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
    "Access-Control-Max-Age": "86400",
}


class _Middleware:
    """Base for middleware that works in both sync and async stacks."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def before(self, request: HttpRequest) -> HttpResponseBase | None:
        return None

    def after(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        return response

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        early = self.before(request)
        if early is not None:
            return self.after(request, early)
        return self.after(request, self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        early = self.before(request)
        if early is not None:
            return self.after(request, early)
        response: Awaitable[HttpResponseBase] = self.get_response(request)
        return self.after(request, await response)


class RequestIdMiddleware(_Middleware):
    """A request id on every log line and response (X-Request-ID), taken from the proxy if sane."""

    def before(self, request: HttpRequest) -> HttpResponseBase | None:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        request_id_var.set(request_id)
        return None

    def after(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        response["X-Request-ID"] = getattr(request, "request_id", "")
        return response


def _is_v1(request: HttpRequest) -> bool:
    return request.path_info == "/v1" or request.path_info.startswith("/v1/")


class CorsMiddleware(_Middleware):
    """`OPTIONS /v1/*` → 204 with the allow-lists; every /v1 response gets the CORS headers."""

    def before(self, request: HttpRequest) -> HttpResponseBase | None:
        if _is_v1(request) and request.method == "OPTIONS":
            response = HttpResponse(status=204)
            for name, value in CORS_PREFLIGHT.items():
                response[name] = value
            return response
        if _is_v1(request):
            length = request.META.get("CONTENT_LENGTH") or "0"
            if length.isdigit() and int(length) > settings.MEDIQOM_MAX_BODY_BYTES:
                return JsonResponse(
                    {
                        "message": "Request body is too large",
                        "code": "request_too_large",
                        "fields": {},
                    },
                    status=413,
                )
        return None

    def after(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if _is_v1(request):
            for name, value in CORS_HEADERS.items():
                response.setdefault(name, value)
        return response


class V1SlashMiddleware(_Middleware):
    """`/v1/...` routes answer with or without a trailing slash (the reference ignores it)."""

    def before(self, request: HttpRequest) -> HttpResponseBase | None:
        path = request.path_info
        if path.startswith("/v1/") and path.endswith("/") and len(path) > 4:
            request.path_info = path.rstrip("/")
        return None
