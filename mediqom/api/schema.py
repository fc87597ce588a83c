"""OpenAPI pieces shared by every endpoint: the error envelope."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
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

# An SSE body: `data:` lines, each one compact JSON object (the event's payload).
SSE_EVENTS = OpenApiResponse(
    OpenApiTypes.OBJECT, description="Server-sent events; each `data:` line is one JSON object"
)


class MediqomAutoSchema(AutoSchema):
    """The schema also says what the serializers enforce: strings that may not be blank."""

    def _map_serializer_field(
        self, field: Any, direction: Any, bypass_extensions: bool = False
    ) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_serializer_field(  # type: ignore[no-untyped-call]
            field, direction, bypass_extensions
        )
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and not field.allow_blank
            and schema.get("type") == "string"
            and "minLength" not in schema
        ):
            schema["minLength"] = 1
        return schema
