"""Import job endpoints (contract 2.3, 3.1, 12): thin views over services and selectors."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from imports_app import selectors, services
from imports_app.api.serializers import job_detail, job_summary, parse_job_create
from mediqom.api.base import AuthedRequest, BaseApi
from mediqom.api.schema import ERROR_RESPONSES, SSE_EVENTS
from mediqom.streams.sse import IgnoreAcceptNegotiation, sse_response

_SSE: dict[Any, Any] = {
    (200, "text/event-stream"): SSE_EVENTS,
    **ERROR_RESPONSES,
}


def _terminal(payload: dict[str, Any]) -> bool:
    return payload.get("type") in services.TERMINAL


class ImportJobListApi(BaseApi):
    @extend_schema(
        operation_id="import_jobs_list", responses={200: OpenApiTypes.OBJECT, **ERROR_RESPONSES}
    )
    def get(self, request: AuthedRequest) -> Response:
        services.import_jobs_purge_expired(user=request.user)
        jobs = selectors.import_job_list(user=request.user)
        return Response({"jobs": [job_summary(job) for job in jobs]})

    @extend_schema(
        operation_id="import_jobs_create",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT, **ERROR_RESPONSES},
    )
    def post(self, request: AuthedRequest) -> Response:
        data = parse_job_create(request.data)
        job = services.import_job_create(user=request.user, **data)
        return Response({"id": str(job.id)})


class ImportJobDetailApi(BaseApi):
    @extend_schema(
        operation_id="import_job_get", responses={200: OpenApiTypes.OBJECT, **ERROR_RESPONSES}
    )
    def get(self, request: AuthedRequest, job_id: UUID) -> Response:
        job = selectors.import_job_get(user=request.user, job_id=job_id)
        return Response({"job": job_detail(job)})

    @extend_schema(
        operation_id="import_job_retry",
        request=None,
        responses={200: OpenApiTypes.OBJECT, **ERROR_RESPONSES},
    )
    def patch(self, request: AuthedRequest, job_id: UUID) -> Response:
        services.import_job_retry(user=request.user, job_id=job_id)
        return Response({"success": True})

    @extend_schema(
        operation_id="import_job_delete", responses={200: OpenApiTypes.OBJECT, **ERROR_RESPONSES}
    )
    def delete(self, request: AuthedRequest, job_id: UUID) -> Response:
        services.import_job_delete(user=request.user, job_id=job_id)
        return Response({"success": True})


class ImportJobProcessApi(BaseApi):
    """Starts a run in the background and tails its events until its complete/error."""

    content_negotiation_class = IgnoreAcceptNegotiation

    @extend_schema(operation_id="import_job_process", request=None, responses=_SSE)
    def post(self, request: AuthedRequest, job_id: UUID) -> StreamingHttpResponse:
        job = services.import_job_start(user=request.user, job_id=job_id)
        return sse_response(request, key=job.stream_key, since=job.run_since, close_when=_terminal)


class ImportJobEventsApi(BaseApi):
    """The job's events after `Last-Event-ID` / `?since=`, then live until complete/error."""

    content_negotiation_class = IgnoreAcceptNegotiation

    @extend_schema(operation_id="import_job_events", responses=_SSE)
    def get(self, request: AuthedRequest, job_id: UUID) -> StreamingHttpResponse:
        job = selectors.import_job_get(user=request.user, job_id=job_id)
        return sse_response(request, key=job.stream_key, close_when=_terminal)
