"""A DRF view answering with `sse_response`, as other apps write them (import-job style:
an unstored status event first, then the log, closing after complete/error). Served by
tests/streams/settings_drf.py in a real server process."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from django.urls import path

from config.urls import urlpatterns as project_urls
from mediqom.api.base import AuthedRequest, BaseApi
from mediqom.streams.selectors import stream_get
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


urlpatterns = [path("v1/jobs/<str:key>/process", JobStreamApi.as_view()), *project_urls]
