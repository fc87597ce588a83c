"""Test urlconf, served by tests/streams/settings_drf.py in real server processes: a DRF view
answering with `sse_response` as other apps write them (import-job style: an unstored status
event first, then the log, closing after complete/error), and a test-only append endpoint."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from django.urls import path
from rest_framework.response import Response

from config.urls import urlpatterns as project_urls
from mediqom.api.base import AuthedRequest, BaseApi
from mediqom.streams.selectors import stream_get
from mediqom.streams.services import stream_append
from mediqom.streams.sse import IgnoreAcceptNegotiation, sse_response


class JobStreamApi(BaseApi):
    content_negotiation_class = IgnoreAcceptNegotiation

    def post(self, request: AuthedRequest, key: str) -> StreamingHttpResponse:
        stream_get(user=request.user, key=key)
        return sse_response(
            request,
            key=key,
            initial=lambda: [{"type": "status", "data": {"status": "connected"}, "timestamp": 0}],
            close_when=lambda event: event["type"] in ("complete", "error"),
        )


class AppendApi(BaseApi):
    """Test only: append to one of the caller's streams in this server process."""

    def post(self, request: AuthedRequest, key: str) -> Response:
        seq = stream_append(key=key, owner_id=request.user.id, payload=request.data)
        return Response({"seq": seq})


urlpatterns = [
    path("v1/jobs/<str:key>/process", JobStreamApi.as_view()),
    path("v1/test-append/<str:key>", AppendApi.as_view()),
    *project_urls,
]
