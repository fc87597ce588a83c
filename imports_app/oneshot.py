"""One-shot imports answered by the request itself (contract 2.3, 3.1, 11.3 items 5-6, 11.4):
`/v1/import/extract` (the Assessment), `/v1/import/report` (a ReportAnalysis) and
`/v1/import/medical-imaging` (the imaging workflow), each also as an SSE stream.

The work is the jobs' pipeline (services.assess_pages / analyse_document, the imaging
workflow). A scan is charged in the request transaction, before any AI call, and refunded
when the work fails before any AI call. The work itself runs after that transaction has
committed (no transaction or row lock is held during model calls): a plain response computes
it after commit (`api.views.AfterCommitApi`), a stream in a worker thread while the response
relays its progress. Nothing of the input or the result is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.conf import settings
from django.db import connection

from imports_app.pipeline.assess import text_pages
from imports_app.pipeline.imaging import (
    imaging_response,
    imaging_stream_result,
    run_medical_imaging_workflow,
)
from imports_app.pipeline.pages import Page, attach_thumbnails
from imports_app.pipeline.progress import ProgressFn, no_progress
from imports_app.pipeline.usage import Usage
from imports_app.selectors import import_job_covering
from imports_app.services import TERMINAL, analyse_document, assess_pages, event
from mediqom.ai import AIProviderError, AIUnavailable, ai_configured
from mediqom.ai.config import candidates, local_allowed
from mediqom.auth.tokens import SupabaseUser
from mediqom.db.rls import rls_context
from mediqom.errors import ApiError, Forbidden
from mediqom.records.quotas import consume_scan, refund_scan
from mediqom.streams.hub import sse_frame

logger = logging.getLogger("mediqom.import")


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True)
class ExtractInput:
    pages: list[Page]  # rendered / given page images, in page order
    sources: list[str]  # the data URLs as sent (PDFs whole)
    text: str | None
    language: str


@dataclass(frozen=True)
class ReportInput:
    pages: list[Page]
    text: str | None
    language: str


@dataclass(frozen=True)
class ImagingInput:
    images: list[str]
    language: str
    metadata: dict[str, Any]


# ---------------------------------------------------------------- metering


@dataclass
class Charge:
    """The scan one request took (`source` base/credits), or none (`charged` False) when the
    pages were already charged in one of the caller's jobs."""

    user: SupabaseUser
    charged: bool
    source: str | None = None
    covered_by: str | None = None
    refunded: bool = field(default=False)


def _require_ai(*flows: str) -> None:
    """503 before anything is charged when a flow the work needs cannot run (a configured
    provider or the offline `local` one)."""
    if not all(ai_configured(flow) for flow in flows):
        raise AIUnavailable("No AI provider is configured for import")


def charge_scan(*, user: SupabaseUser, fingerprints: list[str] | None = None) -> Charge:
    """Inside the request transaction: pages one of the caller's charged, live jobs already
    imported cost nothing; anything else takes one scan or is a 403."""
    if fingerprints:
        job_id = import_job_covering(user=user, fingerprints=fingerprints)
        if job_id is not None:
            return Charge(user=user, charged=False, covered_by=str(job_id))
    scan = consume_scan(user=user)
    if not scan["success"]:
        raise Forbidden("Subscription limit reached", code="subscription_limit_reached")
    return Charge(user=user, charged=True, source=scan.get("source"))


def settle_failure(charge: Charge, usage: Usage, exc: BaseException) -> bool:
    """After the request transaction: give the scan back when the work failed before any AI
    call (returns whether it did)."""
    attempted = usage.ai_calls > 0 or isinstance(exc, AIProviderError)
    if not charge.charged or attempted or charge.refunded:
        return False
    try:
        with rls_context(charge.user):
            refund_scan(user=charge.user, source=charge.source)
    except Exception:  # the failure the client sees is the work's, not the refund's
        logger.exception("import scan refund failed")
        return False
    charge.refunded = True
    return True


def extract_prepare(*, user: SupabaseUser, data: ExtractInput) -> Charge:
    _require_ai(*(("ocr_extraction",) if data.pages else ()), "document_type_routing")
    return charge_scan(user=user, fingerprints=[p.fingerprint for p in data.pages])


def report_prepare(*, user: SupabaseUser, data: ReportInput) -> Charge:
    _require_ai(*(("ocr_extraction",) if data.pages else ()), "feature_detection", "extraction")
    return charge_scan(user=user)


def imaging_prepare(*, user: SupabaseUser) -> Charge:
    if not ai_configured("medical_analysis"):
        raise AIUnavailable("No AI provider is configured for medical imaging")
    return charge_scan(user=user)


# ---------------------------------------------------------------- the work


_ISO = {"English": "en", "Czech": "cs", "German": "de"}


def _local_only() -> bool:
    """No remote provider is configured for the Assessment's flows, and `local` may run."""
    flows = ("ocr_extraction", "document_type_routing")
    return all(not candidates(flow)[1] and local_allowed(flow) for flow in flows)


def extract_run(
    data: ExtractInput, *, progress: ProgressFn = no_progress, usage: Usage | None = None
) -> dict[str, Any]:
    """The Assessment, each page with its `thumbnail` (the client's finaliser needs them)."""
    usage = usage or Usage()
    if _local_only():
        # Offline, extract calls the local provider whole: it reads a PDF's text layer (better
        # than OCR of the rendered pages; the AI layer passes pages, not files) and labels
        # how each page was read (`method`).
        from imports_app.local import assess_local

        progress("ocr_extraction", 50, "Reading the document offline")
        inputs: list[bytes | str] = [*data.sources] if data.pages else [data.text or ""]
        assessment = assess_local(pages=inputs, language=_ISO.get(data.language))
        usage.local = True
    else:
        # PDFs arrive rendered page by page; plain text is one text page
        sources = [page.image for page in data.pages] if data.pages else [data.text or ""]
        assessment = assess_pages(sources, data.language, progress, usage)
    attach_thumbnails(assessment, [page.thumbnail for page in data.pages])
    return assessment


def report_run(
    data: ReportInput, *, progress: ProgressFn = no_progress, usage: Usage | None = None
) -> dict[str, Any]:
    """The ReportAnalysis of one document: its text, or its page images read first."""
    usage = usage or Usage()
    if data.text:
        pages = text_pages(data.text)
    else:
        images = [page.image for page in data.pages]
        pages = assess_pages(images, data.language, progress, usage)["pages"]
    text = "\n".join(str(page.get("text", "")) for page in pages)
    return analyse_document(text, pages, data.language, progress, usage)


def imaging_run(
    data: ImagingInput,
    *,
    progress: ProgressFn = no_progress,
    usage: Usage | None = None,
    stream: bool = False,
) -> dict[str, Any]:
    """§7.6: the non-streaming answer of §2.3, or (stream) the unified result with pages."""
    state = run_medical_imaging_workflow(
        images=data.images,
        language=data.language,
        metadata=data.metadata,
        progress=progress,
        usage=usage,
    )
    shape = imaging_stream_result if stream else imaging_response
    return shape(state, images=data.images, language=data.language, metadata=data.metadata)


def run_after_commit(charge: Charge, work: Callable[[Usage], dict[str, Any]]) -> dict[str, Any]:
    """A plain response's work; a failure before any AI call gives the scan back."""
    usage = Usage()
    try:
        return work(usage)
    except BaseException as exc:
        settle_failure(charge, usage, exc)
        raise


# ---------------------------------------------------------------- SSE


def _frame(payload: dict[str, Any]) -> bytes:
    return sse_frame(None, orjson.dumps(payload))


def _error_event(exc: BaseException, *, refunded: bool) -> dict[str, Any]:
    if isinstance(exc, ApiError):
        message, code = exc.message, exc.code
    else:
        logger.error("import stream crashed (%s)", type(exc).__name__, exc_info=exc)
        message, code = "Import processing failed", "import_failed"
    return event("error", "error", 0, message, code=code, scanRefunded=refunded)


async def stream_frames(
    *,
    charge: Charge,
    opening: list[dict[str, Any]],
    work: Callable[[ProgressFn, Usage], dict[str, Any]],
    done: str,
) -> AsyncIterator[bytes]:
    """The SSE body (contract 3.1, 12): `opening` events, the work's progress (all
    `type: progress`), then exactly one `complete` (`data`: the result) or `error`, then the
    response ends. One `data: <compact JSON>` line per frame, never an `event:` line;
    `: keepalive` comments while the work is silent. The work runs in a worker thread and
    goes on when the client leaves (its result is then dropped; nothing is stored)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def put(payload: dict[str, Any]) -> None:
        # RuntimeError: the response (and its loop) is gone, nobody is listening
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(queue.put_nowait, payload)

    def progress(stage: str, value: float, message: str) -> None:
        put(event("progress", stage, value, message))

    def target() -> None:
        usage = Usage()
        try:
            result = work(progress, usage)
        except BaseException as exc:  # noqa: BLE001 - every failure is the stream's error
            refunded = settle_failure(charge, usage, exc)
            put(_error_event(exc, refunded=refunded))
        else:
            put(event("complete", "completed", 100, done, data=result))
        finally:
            connection.close()

    yield b": connected\n\n"
    for payload in opening:
        yield _frame(payload)
    threading.Thread(target=target, name="import-oneshot", daemon=True).start()
    keepalive = settings.MEDIQOM_STREAM_KEEPALIVE_SECONDS
    while True:
        try:
            payload = await asyncio.wait_for(queue.get(), timeout=keepalive)
        except TimeoutError:
            yield b": keepalive\n\n"
            continue
        yield _frame(payload)
        if payload["type"] in TERMINAL:
            return


def extract_stream(charge: Charge, data: ExtractInput) -> AsyncIterator[bytes]:
    """`POST /v1/import/extract/stream`: initialization 0 → image_processing 25 →
    ocr_extraction 50 → the assessment's stages → document_splitting 75 → complete 100."""
    count = len(data.pages) or 1

    def work(progress: ProgressFn, usage: Usage) -> dict[str, Any]:
        progress("ocr_extraction", 50, f"Extracting text from {count} page(s)")
        assessment = extract_run(data, progress=progress, usage=usage)
        documents, pages = len(assessment["documents"]), len(assessment["pages"])
        progress(
            "document_splitting",
            75,
            f"Identified {documents} documents across {pages} pages",
        )
        return assessment

    return stream_frames(
        charge=charge,
        opening=[
            event("progress", "initialization", 0, "Starting document extraction"),
            event("progress", "image_processing", 25, f"Processing {count} page(s)"),
        ],
        work=work,
        done="Extraction completed",
    )


def report_stream(charge: Charge, data: ReportInput) -> AsyncIterator[bytes]:
    """`POST /v1/import/report/stream`: analysis_initialization 30 → the workflow's node
    stages (30-100) → complete 100 with the ReportAnalysis."""
    return stream_frames(
        charge=charge,
        opening=[
            event(
                "progress",
                "analysis_initialization",
                30,
                "Starting document analysis",
                data={"phase": "analysis"},
            )
        ],
        work=lambda progress, usage: report_run(data, progress=progress, usage=usage),
        done="Analysis completed",
    )


def imaging_stream(charge: Charge, data: ImagingInput) -> AsyncIterator[bytes]:
    """`POST /v1/import/medical-imaging/stream`: imaging_initialization 30 →
    workflow_initialization 35 → patient_performer_detection 0-50 →
    medical_imaging_analysis 50-100 → complete 100 with the unified imaging result."""
    return stream_frames(
        charge=charge,
        opening=[
            event(
                "progress",
                "imaging_initialization",
                30,
                "Starting medical imaging analysis",
                data={"phase": "medical_imaging"},
            ),
            event("progress", "workflow_initialization", 35, "Initializing the imaging workflow"),
        ],
        work=lambda progress, usage: imaging_run(data, progress=progress, usage=usage, stream=True),
        done="Medical imaging analysis completed successfully",
    )
