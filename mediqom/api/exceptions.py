"""The one error envelope: {"message": str, "code": snake_case, "fields": {...}}."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

from mediqom.errors import ApiError
from mediqom.logging import get_logger, request_id_var

log = get_logger("api")

_DRF_CODES: dict[type[drf.APIException], tuple[str, str]] = {
    drf.NotAuthenticated: ("not_authenticated", "Unauthorized"),
    drf.AuthenticationFailed: ("not_authenticated", "Unauthorized"),
    drf.PermissionDenied: ("permission_denied", "Forbidden"),
    drf.NotFound: ("not_found", "Not found"),
    drf.MethodNotAllowed: ("method_not_allowed", "Method not allowed"),
    drf.NotAcceptable: ("not_acceptable", "Not acceptable"),
    drf.UnsupportedMediaType: ("unsupported_media_type", "Unsupported media type"),
    drf.ParseError: ("malformed_json", "Malformed JSON body"),
    drf.Throttled: ("rate_limited", "Too many requests"),
}


def envelope(
    message: str, code: str, fields: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    return {"message": message, "code": code, "fields": fields or {}, **extra}


def _first_message(detail: Any, prefix: str = "") -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            label = f"{prefix}{key}" if key != "non_field_errors" else prefix.rstrip(".")
            return _first_message(value, f"{label}." if label else "")
    if isinstance(detail, list) and detail:
        return _first_message(detail[0], prefix)
    text = str(detail)
    return f"{prefix.rstrip('.')}: {text}" if prefix else text


def _plain(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {str(k): _plain(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_plain(v) for v in detail]
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF exception handler: every error becomes the envelope, 4xx stay 4xx."""
    set_rollback()
    if isinstance(exc, ApiError):
        extra = {"error": exc.message, "success": False} if exc.legacy_error else {}
        extra.update(exc.extra)
        return Response(
            envelope(exc.message, exc.code, exc.fields, **extra),
            status=exc.status,
            headers=exc.headers,
        )
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        return Response(envelope("Request body is too large", "request_too_large"), status=413)
    if isinstance(exc, drf.ValidationError):
        fields = _plain(exc.detail) if isinstance(exc.detail, dict) else {}
        return Response(envelope(_first_message(exc.detail), "invalid", fields), status=400)
    if isinstance(exc, drf.APIException):
        code, message = _DRF_CODES.get(type(exc), (str(exc.default_code), str(exc.detail)))
        headers: dict[str, str] = {}
        wait = getattr(exc, "wait", None)
        if isinstance(exc, drf.Throttled) and wait is not None:
            headers["Retry-After"] = str(int(wait) + 1)
        auth_header = getattr(exc, "auth_header", None)
        if auth_header:
            headers["WWW-Authenticate"] = auth_header
        return Response(envelope(message, code), status=exc.status_code, headers=headers)
    # Unexpected: log the type and traceback (redacted by the logging filter), never the data.
    log.error("unhandled %s in %s", type(exc).__name__, _view_name(context), exc_info=exc)
    return Response(server_error_body(), status=500)


def server_error_body() -> dict[str, Any]:
    return envelope("Internal server error", "server_error", request_id=request_id_var.get())


def _view_name(context: dict[str, Any]) -> str:
    view = context.get("view")
    return type(view).__name__ if view is not None else "?"


@csrf_exempt  # also the catch-all of /v1: an unknown DELETE is a 404, not a CSRF 403
def json_not_found(request: Any, exception: Exception | None = None) -> JsonResponse:
    """handler404: JSON envelope for unknown routes."""
    return JsonResponse(envelope("Not found", "not_found"), status=404)


def json_server_error(request: Any) -> JsonResponse:
    """handler500 for errors outside DRF views."""
    if transaction.get_connection().in_atomic_block:
        transaction.set_rollback(True)
    return JsonResponse(server_error_body(), status=500)


def json_bad_request(request: Any, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(envelope("Bad request", "bad_request"), status=400)


def json_permission_denied(request: Any, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(envelope("Forbidden", "permission_denied"), status=403)
