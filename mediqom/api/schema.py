"""OpenAPI pieces shared by every endpoint: the error envelope."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorEnvelope = inline_serializer(
    "ErrorEnvelope",
    {
        "message": serializers.CharField(),
        "code": serializers.CharField(),
        "fields": serializers.DictField(),
    },
)

ERROR_RESPONSES: dict[int, Any] = {
    400: OpenApiResponse(ErrorEnvelope, description="Invalid input"),
    401: OpenApiResponse(ErrorEnvelope, description="Missing or invalid token"),
    404: OpenApiResponse(ErrorEnvelope, description="Not found (or not yours)"),
    413: OpenApiResponse(ErrorEnvelope, description="Body too large"),
}
