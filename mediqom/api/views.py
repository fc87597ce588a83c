"""Public, non-/v1 pages: the landing page and the health check."""

from __future__ import annotations

import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from mediqom.logging import get_logger

log = get_logger("api")


@require_safe
def landing(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "landing.html",
        {
            "docs_enabled": settings.MEDIQOM_ENABLE_API_DOCS,
            "admin_enabled": settings.MEDIQOM_ENABLE_ADMIN,
        },
    )


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("select 1")
            return bool(cursor.fetchone() == (1,))
    except DatabaseError:
        log.warning("health check: database unreachable")
        return False


async def _layer_roundtrip() -> bool:
    layer = get_channel_layer()
    if layer is None:
        return False
    channel = await layer.new_channel()
    token = uuid.uuid4().hex
    await layer.send(channel, {"type": "health.ping", "token": token})
    message = await layer.receive(channel)
    return bool(message.get("token") == token)


def _channel_layer_ok() -> bool:
    try:
        return async_to_sync(_layer_roundtrip)()
    except Exception as exc:  # noqa: BLE001 - any layer failure means "unhealthy"
        log.warning("health check: channel layer unreachable (%s)", type(exc).__name__)
        return False


@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the channel layer answer, 503 otherwise."""
    database = _database_ok()
    layer = _channel_layer_ok()
    healthy = database and layer
    return JsonResponse(
        {
            "status": "ok" if healthy else "unavailable",
            "database": "ok" if database else "unavailable",
            "channel_layer": "ok" if layer else "unavailable",
        },
        status=200 if healthy else 503,
    )
