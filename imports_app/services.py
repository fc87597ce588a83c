"""Writes of import jobs: create, retry, delete, start processing, run the pipeline, purge.

Processing runs in a background task (imports_app.tasks); its progress goes to the job's event
stream (`import_job:<id>`, mediqom.streams) and to the row. Each run ends with exactly one
`complete` or `error` event. A scan is charged once per job when processing starts and given
back when the run fails before any AI call. Results are stored only encrypted to the user's
public key; the server's resume state is field-encrypted and dropped at the end.
"""

from __future__ import annotations

import functools
import json
import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone

from crypto_app.primitives import encrypt_results_for_profile
from imports_app.models import PROCESSING, ImportJob
from imports_app.pipeline.assess import assess
from imports_app.pipeline.convert import report_analysis
from imports_app.pipeline.pages import attach_thumbnails, fingerprint, thumbnail
from imports_app.pipeline.progress import ProgressFn, scaled
from imports_app.pipeline.usage import Usage
from imports_app.pipeline.workflow import run_unified_workflow
from imports_app.selectors import FINGERPRINTS
from imports_app.validation import validate_data_url
from mediqom.ai import AIProviderError
from mediqom.auth.tokens import SupabaseUser
from mediqom.db.rls import rls_context
from mediqom.errors import ApiError, Conflict, Forbidden, InvalidInput, NotFound
from mediqom.records.models import Profile
from mediqom.records.quotas import check_scans_available, consume_scan, refund_scan
from mediqom.streams.models import Stream
from mediqom.streams.services import stream_append, stream_end

logger = logging.getLogger("mediqom.import")

COMPLETED_TTL = timedelta(hours=1)
ERROR_TTL = timedelta(hours=24)
CREATED_TTL = timedelta(hours=24)
TERMINAL = ("complete", "error")


def now_ms() -> int:
    return int(time.time() * 1000)


def event(kind: str, stage: str, progress: float, message: str, **extra: Any) -> dict[str, Any]:
    """A ProgressEvent of contract 3.1."""
    return {
        "type": kind,
        "stage": stage,
        "progress": round(float(progress), 2),
        "message": message,
        **extra,
        "timestamp": now_ms(),
    }


def _public_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """What `file_manifest` keeps in the clear: nothing that names or shows the patient."""
    return {
        "type": entry.get("type"),
        "size": entry.get("size"),
        "taskType": entry.get("taskType"),
        "pages": len(entry.get("processedImages") or []),
    }


def _scoped(user: SupabaseUser, job_id: UUID, *, lock: bool = False) -> ImportJob:
    jobs = ImportJob.objects.for_user(user)
    if lock:
        jobs = jobs.select_for_update()
    job = jobs.filter(pk=job_id).first()
    if job is None:
        raise NotFound("Import job not found", code="import_job_not_found")
    return job


# ---------------------------------------------------------------- create / retry / delete


@transaction.atomic
def import_job_create(
    *, user: SupabaseUser, files: list[dict[str, Any]], language: str
) -> ImportJob:
    """A new job in status `created` (403 without scans left; nothing charged yet)."""
    if check_scans_available(user=user)["available"] <= 0:
        raise Forbidden("Subscription limit reached", code="subscription_limit_reached")
    now = timezone.now()
    return ImportJob.objects.create(
        user_id=user.id,
        status="created",
        file_count=len(files),
        file_manifest=[_public_entry(f) for f in files],
        manifest=json.dumps(files, ensure_ascii=False),
        language=language,
        created_at=now,
        updated_at=now,
        expires_at=now + CREATED_TTL,
    )


@transaction.atomic
def import_job_retry(*, user: SupabaseUser, job_id: UUID) -> ImportJob:
    """A failed job back to `created` (its finished stages are kept and not redone)."""
    job = _scoped(user, job_id, lock=True)
    if job.status != "error":
        raise InvalidInput(
            "Only failed jobs can be retried", code="import_job_not_failed", legacy_error=True
        )
    job.status = "created"
    job.error = None
    job.processing_started_at = None
    job.stage = None
    job.progress = 0
    job.message = None
    job.updated_at = timezone.now()
    job.expires_at = job.updated_at + CREATED_TTL
    job.save(
        update_fields=[
            "status", "error", "processing_started_at", "stage", "progress", "message",
            "updated_at", "expires_at",
        ]
    )  # fmt: skip
    return job


@transaction.atomic
def import_job_delete(*, user: SupabaseUser, job_id: UUID) -> None:
    """Delete the job; its event stream starts its retention period."""
    job = _scoped(user, job_id, lock=True)
    key = job.stream_key
    job.delete()
    if Stream.objects.for_user(user).filter(key=key).exists():
        stream_end(key=key)


def import_jobs_purge_expired(*, user: SupabaseUser | None = None) -> int:
    """Delete jobs past `expires_at` (one user's, or everyone's from the periodic purge)."""
    if user is not None:
        jobs = ImportJob.objects.for_user(user).expired()
    else:
        # unscoped: the periodic purge (command / task) with the server's rights
        jobs = ImportJob.objects.expired()
    keys = [f"import_job:{pk}" for pk in jobs.values_list("pk", flat=True)]
    deleted, _ = jobs.delete()
    for key in keys:
        # unscoped: the streams of jobs selected above (scoped when a user purges their own)
        if Stream.objects.filter(key=key).exists():
            stream_end(key=key)
    return deleted


# ---------------------------------------------------------------- start processing


def _stale_before() -> Any:
    return timezone.now() - timedelta(seconds=settings.MEDIQOM_IMPORT_STALE_SECONDS)


def _public_key(user: SupabaseUser) -> str | None:
    key = Profile.objects.for_user(user).filter(pk=user.id).values_list("public_key", flat=True)
    value = key.first()
    return value or None


@transaction.atomic
def import_job_start(*, user: SupabaseUser, job_id: UUID) -> ImportJob:
    """Claim the job for a new run, charge its scan (once per job) and enqueue the pipeline
    after commit. 404 missing, 400 completed, 409 while another run is alive, 403 no scans."""
    from imports_app.tasks import process_import_job

    job = _scoped(user, job_id, lock=True)
    if job.status == "completed":
        raise InvalidInput("Job already completed", code="import_job_completed")
    if job.status == "expired":
        raise InvalidInput("Job has expired", code="import_job_expired")
    if job.status in PROCESSING and job.updated_at > _stale_before():
        raise Conflict("Job is already being processed", code="import_job_processing")
    if _public_key(user) is None:
        raise InvalidInput(
            "Set up your encryption keys before importing", code="public_key_missing"
        )
    fields = ["status", "stage", "progress", "message", "error", "processing_started_at"]
    if not job.scan_deducted:
        scan = consume_scan(user=user)
        if not scan["success"]:
            raise Forbidden("Subscription limit reached", code="subscription_limit_reached")
        job.scan_deducted = True
        job.scan_source = scan.get("source")
        fields += ["scan_deducted", "scan_source"]
    last = Stream.objects.for_user(user).filter(key=job.stream_key).values_list("last_seq")
    now = timezone.now()
    job.run_since = (last.first() or (0,))[0]
    job.status = "extracting"
    job.stage = "initialization"
    job.progress = 0
    job.message = None
    job.error = None
    job.processing_started_at = now
    job.updated_at = now
    job.expires_at = None
    job.save(update_fields=[*fields, "run_since", "updated_at", "expires_at"])
    run = (str(job.id), str(user.id), now.isoformat())
    transaction.on_commit(lambda: process_import_job.enqueue(*run))
    return job


def import_jobs_recover_stale() -> int:
    """Re-enqueue every job whose run died (its row has not moved for
    MEDIQOM_IMPORT_STALE_SECONDS): the new run takes the claim and resumes from the last
    finished stage; the old one, should it wake up, stops at its next write. No new scan."""
    from imports_app.tasks import process_import_job

    # unscoped: stale-run recovery (command / task) with the server's rights
    stale = ImportJob.objects.filter(status__in=PROCESSING, updated_at__lt=_stale_before())
    count = 0
    for job_id in list(stale.values_list("pk", flat=True)):
        with transaction.atomic():
            job = (
                # unscoped: the same recovery, one stale job at a time
                ImportJob.objects.select_for_update()
                .filter(pk=job_id, status__in=PROCESSING, updated_at__lt=_stale_before())
                .first()
            )
            if job is None:
                continue
            now = timezone.now()
            job.processing_started_at = now
            job.updated_at = now
            job.save(update_fields=["processing_started_at", "updated_at"])
            transaction.on_commit(
                functools.partial(
                    process_import_job.enqueue, str(job.id), str(job.user_id), now.isoformat()
                )
            )
        logger.warning("import job run presumed dead, re-enqueued job=%s", job_id)
        count += 1
    return count


# ---------------------------------------------------------------- the run (background)


class Superseded(Exception):
    """Another run claimed the job (this one was presumed dead): stop without a word."""


@dataclass
class _Run:
    user: SupabaseUser
    job_id: UUID
    started_at: str


class _EventWriter:
    """Appends progress events and mirrors them to the row, from one thread with its own
    connection, so pipeline threads only put events on a queue and never wait for the DB."""

    def __init__(self, run: _Run, key: str) -> None:
        self.run = run
        self.key = key
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._loop, name="import-events", daemon=True)
        self.thread.start()

    def __call__(self, stage: str, progress: float, message: str) -> None:
        self.events.put(event("progress", stage, progress, message))

    def _loop(self) -> None:
        try:
            while True:
                item = self.events.get()
                if item is None:
                    return
                batch = [item]
                while not self.events.empty():
                    extra = self.events.get()
                    if extra is None:
                        self._write(batch)
                        return
                    batch.append(extra)
                self._write(batch)
        finally:
            close_old_connections()
            from django.db import connection

            connection.close()

    def _write(self, batch: list[dict[str, Any]]) -> None:
        try:
            self._store(batch)
        except Exception:  # progress is best effort; the run goes on
            logger.exception("import job progress not stored job=%s", self.run.job_id)

    def _store(self, batch: list[dict[str, Any]]) -> None:
        with rls_context(self.run.user):
            for payload in batch:
                stream_append(key=self.key, owner_id=self.run.user.id, payload=payload)
            last = batch[-1]
            ImportJob.objects.for_user(self.run.user).filter(pk=self.run.job_id).update(
                stage=last["stage"][:200],
                progress=int(last["progress"]),
                message=last["message"][:500],
                updated_at=timezone.now(),
            )

    def close(self) -> None:
        self.events.put(None)
        self.thread.join()


def _claimed(run: _Run, *, lock: bool = True) -> ImportJob:
    job = _scoped(run.user, run.job_id, lock=lock)
    started = job.processing_started_at.isoformat() if job.processing_started_at else None
    if started != run.started_at or job.status not in PROCESSING:
        raise Superseded()
    return job


def _persist(
    run: _Run,
    pem: str,
    *,
    manifest: list[dict[str, Any]],
    extraction: list[Any],
    analysis: list[Any],
    status: str | None = None,
) -> None:
    """The results so far, encrypted to the user; the resume state, field-encrypted."""
    triple = encrypt_results_for_profile(pem, extraction, analysis)
    with rls_context(run.user):
        job = _claimed(run)
        job.result_encryption_key = triple["result_encryption_key"]
        job.encrypted_extraction_result = triple["encrypted_extraction_result"]
        job.encrypted_analysis_results = triple["encrypted_analysis_results"]
        job.manifest = json.dumps(manifest, ensure_ascii=False)
        job.checkpoint = json.dumps({"extraction": extraction, "analysis": analysis})
        job.updated_at = timezone.now()
        fields = [
            "result_encryption_key", "encrypted_extraction_result", "encrypted_analysis_results",
            "manifest", "checkpoint", "updated_at",
        ]  # fmt: skip
        if status is not None:
            job.status = status
            fields.append("status")
        job.save(update_fields=fields)


def import_job_run(*, user: SupabaseUser, job_id: UUID, started_at: str) -> str:
    """Run the pipeline of a claimed job to its end; returns the final status. Idempotent:
    a run whose claim is gone (completed, superseded) does nothing."""
    run = _Run(user=user, job_id=job_id, started_at=started_at)
    try:
        with rls_context(user):
            job = _claimed(run, lock=False)
            pem = _public_key(user)
            manifest: list[dict[str, Any]] = json.loads(job.manifest or "[]")
            checkpoint = json.loads(job.checkpoint or "{}")
            language = job.language
            key = job.stream_key
    except Superseded:
        return "superseded"
    usage = Usage()
    writer = _EventWriter(run, key)
    outcome: dict[str, Any]
    try:
        if pem is None:
            raise InvalidInput(
                "Set up your encryption keys before importing", code="public_key_missing"
            )
        outcome = _pipeline(run, pem, writer, usage, manifest, checkpoint, language)
    except Superseded:
        writer.close()
        return "superseded"
    except Exception as exc:  # noqa: BLE001 - every failure becomes the job's error
        writer.close()
        return _fail(run, usage, exc)
    writer.close()
    return _complete(run, outcome)


def assess_pages(
    images: list[str], language: str, progress: ProgressFn, usage: Usage
) -> dict[str, Any]:
    """Stage 1 (the Assessment) of page images or plain-text pages through the AI layer
    (flows `ocr_extraction`, `document_type_routing`): a remote provider, or the offline
    `local` one (imports_app.local.flows) where config/ai-models.yaml sends the flow to it.
    Shared by jobs and `/v1/import/extract`."""
    if images and not all(i.startswith("data:") for i in images):
        return assess(text="\f".join(images), language=language, progress=progress, usage=usage)
    return assess(images=images, language=language, progress=progress, usage=usage)


def analyse_document(
    text: str, pages: list[dict[str, Any]], language: str, progress: ProgressFn, usage: Usage
) -> dict[str, Any]:
    """Stage 2 (a ReportAnalysis) of one document through the AI layer; shared by jobs and
    `/v1/import/report`."""
    state = run_unified_workflow(
        text=text, pages=pages, language=language, progress=progress, usage=usage
    )
    return report_analysis(state, text)


def _pipeline(
    run: _Run,
    pem: str,
    emit: ProgressFn,
    usage: Usage,
    manifest: list[dict[str, Any]],
    checkpoint: dict[str, Any],
    language: str,
) -> dict[str, Any]:
    extraction: list[Any] = list(checkpoint.get("extraction") or [])
    analysis: list[Any] = list(checkpoint.get("analysis") or [])
    files = len(manifest)
    emit("extraction", 5, f"Extracting {files} file(s)")
    for index, entry in enumerate(manifest):
        if index < len(extraction):
            continue  # finished in an earlier run
        start, end = 5 + index / files * 25, 5 + (index + 1) / files * 25
        sub = scaled(lambda s, p, m: emit(f"extraction_{s}", p, m), start, end)
        images = [i for i in entry.get("processedImages") or [] if isinstance(i, str)]
        if not images:
            raise InvalidInput("A file has no pages", code="import_empty_file")
        assessment = assess_pages(images, language, sub, usage)
        decoded = [validate_data_url(image).data for image in images]
        attach_thumbnails(assessment, [thumbnail(data) for data in decoded])
        extraction.append(assessment)
        # One-way page fingerprints: a later `/v1/import/extract` of the same pages (the
        # client's finaliser asking for thumbnails) is not charged a second scan.
        entry[FINGERPRINTS] = [fingerprint(data) for data in decoded]
        entry["processedImages"] = []  # page images are not kept once extracted
        _persist(run, pem, manifest=manifest, extraction=extraction, analysis=analysis)
        emit("extraction", end, f"Extracted file {index + 1} of {files}")
    documents = [
        (assessment, document)
        for assessment in extraction
        for document in assessment.get("documents", [])
    ]
    total = max(len(documents), 1)
    _persist(
        run, pem, manifest=manifest, extraction=extraction, analysis=analysis, status="analyzing"
    )
    emit("analysis", 30, f"Analysing {len(documents)} document(s)")
    for index, (assessment, document) in enumerate(documents):
        if index < len(analysis):
            continue
        start, end = 30 + index / total * 65, 30 + (index + 1) / total * 65
        sub = scaled(lambda s, p, m: emit(f"analysis_{s}", p, m), start, end)
        pages = [p for p in assessment.get("pages", []) if p.get("page") in document["pages"]]
        text = "\n".join(str(p.get("text", "")) for p in pages)
        if not text.strip():
            analysis.append(report_analysis({"text": ""}, ""))
        else:
            analysis.append(analyse_document(text, pages, language, sub, usage))
        _persist(run, pem, manifest=manifest, extraction=extraction, analysis=analysis)
        emit("analysis", end, f"Analysed document {index + 1} of {len(documents)}")
    return {"extraction": extraction, "analysis": analysis}


def _complete(run: _Run, outcome: dict[str, Any]) -> str:
    try:
        with rls_context(run.user):
            job = _claimed(run)
            now = timezone.now()
            job.status = "completed"
            job.stage = "completed"
            job.progress = 100
            job.message = "Import completed"
            job.checkpoint = None
            job.updated_at = now
            job.expires_at = now + COMPLETED_TTL
            job.save(
                update_fields=[
                    "status", "stage", "progress", "message", "checkpoint", "updated_at",
                    "expires_at",
                ]
            )  # fmt: skip
            # The results travel encrypted, as stored: the client decrypts them from the job
            # row (decryptJobResults); the event log never holds them readable.
            data = {
                "id": str(job.id),
                "extraction_result": None,
                "analysis_results": None,
                "result_encryption_key": job.result_encryption_key,
                "encrypted_extraction_result": job.encrypted_extraction_result,
                "encrypted_analysis_results": job.encrypted_analysis_results,
                "documents": sum(len(a.get("documents", [])) for a in outcome["extraction"]),
            }
            stream_append(
                key=job.stream_key,
                owner_id=run.user.id,
                payload=event("complete", "completed", 100, "Import completed", data=data),
            )
    except Superseded:
        return "superseded"
    logger.info("import job completed job=%s", run.job_id)
    return "completed"


def _fail(run: _Run, usage: Usage, exc: Exception) -> str:
    if isinstance(exc, ApiError):
        message, code = exc.message, exc.code
    else:
        logger.exception("import job crashed job=%s", run.job_id)
        message, code = "Import processing failed", "import_failed"
    attempted = usage.ai_calls > 0 or isinstance(exc, AIProviderError)
    try:
        with rls_context(run.user):
            job = _claimed(run)
            refunded = False
            if not attempted and job.scan_deducted:
                refund_scan(user=run.user, source=job.scan_source)
                job.scan_deducted = False
                job.scan_source = None
                refunded = True
            now = timezone.now()
            job.status = "error"
            job.stage = "error"
            job.progress = 0
            job.error = message
            job.message = message
            job.updated_at = now
            job.expires_at = now + ERROR_TTL
            job.save(
                update_fields=[
                    "status", "stage", "progress", "error", "message", "updated_at",
                    "expires_at", "scan_deducted", "scan_source",
                ]
            )  # fmt: skip
            stream_append(
                key=job.stream_key,
                owner_id=run.user.id,
                payload=event("error", "error", 0, message, code=code, scanRefunded=refunded),
            )
    except Superseded:
        return "superseded"
    logger.warning("import job failed job=%s code=%s", run.job_id, code)
    return "error"


def import_jobs_erase(*, user: SupabaseUser) -> int:
    """Account deletion: every job of the user goes, whatever its state (a worker still running
    one finds it gone and stops). Their streams go with the user's streams."""
    deleted, _ = ImportJob.objects.for_user(user).delete()
    return deleted
