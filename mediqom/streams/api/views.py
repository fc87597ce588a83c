"""`GET /v1/streams/{key}`: follow one of the caller's own streams over SSE (demo and tests)."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema

from mediqom.api.base import AuthedRequest, BaseApi
from mediqom.api.schema import ERROR_RESPONSES
from mediqom.streams.selectors import stream_get
from mediqom.streams.services import validate_key
from mediqom.streams.sse import IgnoreAcceptNegotiation, sse_response


class StreamEventsApi(BaseApi):
    """Replays the stream after `Last-Event-ID` / `?since=`, then follows it live."""

    content_negotiation_class = IgnoreAcceptNegotiation

    @extend_schema(
        operation_id="stream_events",
        parameters=[
            OpenApiParameter("since", OpenApiTypes.INT, description="last seq the client has"),
            OpenApiParameter("Last-Event-ID", OpenApiTypes.INT, location=OpenApiParameter.HEADER),
        ],
        responses={
            (200, "text/event-stream"): OpenApiResponse(OpenApiTypes.STR),
            **ERROR_RESPONSES,
        },
    )
    def get(self, request: AuthedRequest, key: str) -> StreamingHttpResponse:
        stream_get(user=request.user, key=validate_key(key))
        return sse_response(request, key=key)
