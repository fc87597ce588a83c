"""Import job endpoints (contract 2.3, 3.1, 12): thin views over services and selectors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any
from uuid import UUID

from django.http import HttpRequest, HttpResponseBase, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response

from imports_app import oneshot, selectors, services
from imports_app.api.serializers import (
    job_detail,
    job_summary,
    parse_extract,
    parse_imaging,
    parse_job_create,
    parse_report,
)
from imports_app.pipeline.usage import Usage
from mediqom.api.base import AuthedRequest, BaseApi
from mediqom.api.schema import ERROR_RESPONSES, SSE_EVENTS, ErrorEnvelope
from mediqom.streams.sse import IgnoreAcceptNegotiation, sse_response

_SSE: dict[Any, Any] = {
    (200, "text/event-stream"): SSE_EVENTS,
    **ERROR_RESPONSES,
}
# What the one-shot routes add: no scans left, inputs refused by type or content, the AI.
_ONESHOT_ERRORS: dict[int, Any] = {
    403: OpenApiResponse(ErrorEnvelope, description="Subscription limit reached"),
    415: OpenApiResponse(ErrorEnvelope, description="Not a PNG/JPEG/WebP image or PDF"),
    422: OpenApiResponse(ErrorEnvelope, description="A corrupt or encrypted document"),
    502: OpenApiResponse(ErrorEnvelope, description="The AI provider failed"),
    503: OpenApiResponse(ErrorEnvelope, description="No AI provider is configured"),
}
_ONESHOT_JSON: dict[Any, Any] = {200: OpenApiTypes.OBJECT, **ERROR_RESPONSES, **_ONESHOT_ERRORS}
_ONESHOT_SSE: dict[Any, Any] = {**_SSE, **_ONESHOT_ERRORS}
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


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


# ---------------------------------------------------------------- one-shot imports


class LaterResponse(Response):
    """What a handler of AfterCommitApi returns: `work()` gives the body once the request
    transaction (auth, validation, the scan charge) has committed."""

    def __init__(self, work: Callable[[], dict[str, Any]]) -> None:
        super().__init__(None)
        self.work = work


class AfterCommitApi(BaseApi):
    """The model calls run after the request transaction: no transaction or subscription row
    lock is held for their minutes, and the charged scan is committed first."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = super().dispatch(request, *args, **kwargs)
        if not isinstance(response, LaterResponse):
            return response
        try:
            result: Response = Response(response.work())
        except Exception as exc:  # noqa: BLE001 - rendered as the one error envelope
            result = self.handle_exception(exc)
        return self.finalize_response(self.request, result, *args, **kwargs)


def _stream(body: AsyncIterator[bytes]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(body, content_type="text/event-stream")
    for name, value in SSE_HEADERS.items():
        response[name] = value
    return response


def _later(charge: oneshot.Charge, work: Callable[[Usage], dict[str, Any]]) -> LaterResponse:
    return LaterResponse(lambda: oneshot.run_after_commit(charge, work))


class ImportExtractApi(AfterCommitApi):
    """The Assessment of page images, whole PDFs or text; every page with its thumbnail.

    Its errors also carry `pages: []` and `documents: []`: the client's `processImages`
    (called by the finaliser for thumbnails) maps `pages` of whatever answer it gets without
    checking the status, and without them its promise would never settle."""

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        if isinstance(response.data, dict):
            response.data.setdefault("pages", [])
            response.data.setdefault("documents", [])
        return response

    @extend_schema(
        operation_id="import_extract", request=OpenApiTypes.OBJECT, responses=_ONESHOT_JSON
    )
    def post(self, request: AuthedRequest) -> Response:
        data = parse_extract(request.data)
        charge = oneshot.extract_prepare(user=request.user, data=data)
        return _later(charge, lambda usage: oneshot.extract_run(data, usage=usage))


class ImportExtractStreamApi(BaseApi):
    content_negotiation_class = IgnoreAcceptNegotiation

    @extend_schema(
        operation_id="import_extract_stream", request=OpenApiTypes.OBJECT, responses=_ONESHOT_SSE
    )
    def post(self, request: AuthedRequest) -> StreamingHttpResponse:
        data = parse_extract(request.data)
        charge = oneshot.extract_prepare(user=request.user, data=data)
        return _stream(oneshot.extract_stream(charge, data))


class ImportReportApi(AfterCommitApi):
    """The ReportAnalysis of one document (the client's non-streaming fallback)."""

    @extend_schema(
        operation_id="import_report", request=OpenApiTypes.OBJECT, responses=_ONESHOT_JSON
    )
    def post(self, request: AuthedRequest) -> Response:
        data = parse_report(request.data)
        charge = oneshot.report_prepare(user=request.user, data=data)
        return _later(charge, lambda usage: oneshot.report_run(data, usage=usage))


class ImportReportStreamApi(BaseApi):
    content_negotiation_class = IgnoreAcceptNegotiation

    @extend_schema(
        operation_id="import_report_stream", request=OpenApiTypes.OBJECT, responses=_ONESHOT_SSE
    )
    def post(self, request: AuthedRequest) -> StreamingHttpResponse:
        data = parse_report(request.data)
        charge = oneshot.report_prepare(user=request.user, data=data)
        return _stream(oneshot.report_stream(charge, data))


class ImportMedicalImagingApi(AfterCommitApi):
    """The medical-imaging workflow (§7.6) over page images (DICOM frames from the client)."""

    @extend_schema(
        operation_id="import_medical_imaging", request=OpenApiTypes.OBJECT, responses=_ONESHOT_JSON
    )
    def post(self, request: AuthedRequest) -> Response:
        data = parse_imaging(request.data)
        charge = oneshot.imaging_prepare(user=request.user)
        return _later(charge, lambda usage: oneshot.imaging_run(data, usage=usage))


class ImportMedicalImagingStreamApi(BaseApi):
    content_negotiation_class = IgnoreAcceptNegotiation

    @extend_schema(
        operation_id="import_medical_imaging_stream",
        request=OpenApiTypes.OBJECT,
        responses=_ONESHOT_SSE,
    )
    def post(self, request: AuthedRequest) -> StreamingHttpResponse:
        data = parse_imaging(request.data)
        charge = oneshot.imaging_prepare(user=request.user)
        return _stream(oneshot.imaging_stream(charge, data))
