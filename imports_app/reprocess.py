"""Operator reprocessing of import jobs (`manage.py reprocess_imports`), with the server's rights.

What the server can reprocess is what it still holds readable (with its field keys):

- a failed job (`error`): the files not extracted yet still have their page images in the
  encrypted manifest, the extracted files' text and the finished documents are in the
  encrypted resume state (`checkpoint`). The run resumes from the last finished stage; with
  `redo_analysis` the documents are analysed again from the stored extracted text.
- a job whose run died (`extracting`/`analyzing`, its row not moving for
  MEDIQOM_IMPORT_STALE_SECONDS, or its reprocessing command gone): resumed the same way.

It cannot reprocess a `completed` job (its page images were dropped once extracted and its
resume state when it completed; its results are encrypted to the user's public key, which
the server cannot read), an `expired` one, one whose user has no public key, or one with a
file that has neither page images nor extracted text. A `created` job was never processed:
the user's client starts it. Each answer says which case applies.

Reprocessing never charges a scan (`scan_deducted` and the scan counters are not touched; a
run that fails before any AI call refunds the job's scan, as every run does). A claim is one
transaction (the row, and with the database task backend the task row too), so an
interruption leaves a job untouched or claimed as a whole; a claimed run whose process died
is resumed by the next reprocessing (or by the stale-run recovery). Rerunning with the same
configuration skips the jobs already reprocessed with it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from imports_app.models import PROCESSING, ImportJob
from imports_app.services import import_job_run
from mediqom.ai.config import ai_config, provider_configured
from mediqom.auth.tokens import SupabaseUser
from mediqom.records.models import Profile
from mediqom.streams.models import Stream

REPROCESS = "reprocess"
SKIP = "skip"
CANNOT = "cannot"

# Namespace of the advisory locks an inline reprocessing holds while it runs a job.
_LOCK_SPACE = 0x1A0B


@dataclass(frozen=True)
class Decision:
    action: str  # reprocess | skip | cannot
    reason: str


def configuration_key(*, redo_analysis: bool) -> str:
    """What a reprocessing ran with: the AI configuration (the models file, which providers
    have their settings, offline mode) and the options. No secret goes into it."""
    config = ai_config()
    try:
        with open(settings.MEDIQOM_AI_MODELS_FILE, "rb") as handle:
            models_file = hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        models_file = ""
    configured = sorted(
        name for name, spec in config.providers.items() if provider_configured(spec)
    )
    payload = {
        "models_file": models_file,
        "configured": configured,
        "offline": bool(settings.MEDIQOM_AI_OFFLINE),
        "redo_analysis": redo_analysis,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def select_jobs(
    *,
    job_ids: list[UUID] | None = None,
    user_ids: list[UUID] | None = None,
    statuses: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[UUID]:
    """The ids of the jobs matching every given filter, oldest first."""
    # unscoped: the operator's command selects across users with the server's rights
    jobs = ImportJob.objects.all()
    if job_ids:
        jobs = jobs.filter(pk__in=job_ids)
    if user_ids:
        jobs = jobs.filter(user_id__in=user_ids)
    if statuses:
        jobs = jobs.filter(status__in=statuses)
    if since is not None:
        jobs = jobs.filter(created_at__gte=since)
    if until is not None:
        jobs = jobs.filter(created_at__lt=until)
    return list(jobs.order_by("created_at", "id").values_list("pk", flat=True))


def user_ids_for(value: str) -> list[UUID]:
    """A user given by id or by email (case-insensitive); [] when nobody matches."""
    try:
        return [UUID(value)]
    except ValueError:
        pass
    # unscoped: the operator looks a user up by email
    return list(Profile.objects.filter(email__iexact=value).values_list("pk", flat=True))


# ---------------------------------------------------------------- deciding


def _lock_id(job_id: UUID) -> int:
    return int.from_bytes(job_id.bytes[:4], "big", signed=True)


def try_lock(job_id: UUID) -> bool:
    """Take the job's session advisory lock (held while an inline reprocessing runs it)."""
    with connection.cursor() as cursor:
        cursor.execute("select pg_try_advisory_lock(%s, %s)", [_LOCK_SPACE, _lock_id(job_id)])
        return bool(cursor.fetchone()[0])


def unlock(job_id: UUID) -> None:
    with connection.cursor() as cursor:
        cursor.execute("select pg_advisory_unlock(%s, %s)", [_LOCK_SPACE, _lock_id(job_id)])


@contextmanager
def job_lock(job_id: UUID) -> Iterator[bool]:
    """The advisory lock for the duration of the block (True when taken)."""
    if connection.vendor != "postgresql":
        yield True
        return
    taken = try_lock(job_id)
    try:
        yield taken
    finally:
        if taken:
            unlock(job_id)


def _started(job: ImportJob) -> str | None:
    return job.processing_started_at.isoformat() if job.processing_started_at else None


def _missing_input(job: ImportJob) -> int | None:
    """The number (1-based) of the first file with neither page images nor extracted text."""
    manifest = json.loads(job.manifest or "[]")
    extracted = len((json.loads(job.checkpoint or "{}") or {}).get("extraction") or [])
    if not manifest:
        return 1
    for index, entry in enumerate(manifest):
        if index >= extracted and not (entry.get("processedImages") or []):
            return index + 1
    return None


def decide(job: ImportJob, *, key: str, force: bool = False, lock_free: bool = False) -> Decision:
    """Whether the job would be reprocessed now, and why (or why not). `lock_free`: the
    caller holds the job's advisory lock, so no inline reprocessing is running it."""
    marker: dict[str, Any] = job.reprocess or {}
    ours = bool(marker) and marker.get("at") == _started(job)
    same = ours and marker.get("key") == key
    if job.status == "expired":
        return Decision(CANNOT, "expired")
    if job.status == "completed":
        if same:
            return Decision(SKIP, "already reprocessed with this configuration (completed)")
        return Decision(
            CANNOT,
            "completed: the server keeps no readable inputs (page images are dropped once "
            "extracted and the extracted text once the job completes; the results are "
            "encrypted to the user's key)",
        )
    if job.status == "created":
        return Decision(SKIP, "never processed (the user's client starts it)")
    if job.status in PROCESSING:
        stale = job.updated_at < timezone.now() - timedelta(
            seconds=settings.MEDIQOM_IMPORT_STALE_SECONDS
        )
        inline_dead = ours and marker.get("mode") == "inline" and lock_free
        if not (stale or inline_dead):
            if ours and marker.get("mode") == "inline":
                return Decision(SKIP, "being reprocessed by another command")
            return Decision(SKIP, "being processed (queued or running)")
    elif job.status == "error":
        if same and not force:
            return Decision(
                SKIP,
                "already reprocessed with this configuration and failed again: "
                f"{(job.error or 'unknown error')[:200]} (use --force to try again)",
            )
    else:
        return Decision(CANNOT, f"unknown status {job.status!r}")
    if not _has_public_key(job.user_id):
        return Decision(CANNOT, "the user has no public key (results could not be encrypted)")
    missing = _missing_input(job)
    if missing is not None:
        return Decision(
            CANNOT, f"file {missing} has neither page images nor extracted text to reprocess"
        )
    if job.status in PROCESSING:
        return Decision(REPROCESS, "its run died: resume from the last finished stage")
    return Decision(REPROCESS, "failed: resume from the last finished stage")


def _has_public_key(user_id: UUID) -> bool:
    # unscoped: the operator's command checks the job owner's key
    key = Profile.objects.filter(pk=user_id).values_list("public_key", flat=True).first()
    return bool(key)


def inspect(job_id: UUID, *, key: str, force: bool = False) -> Decision:
    """The decision for one job without changing anything (dry run)."""
    # unscoped: the operator's command reads one selected job
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None:
        return Decision(CANNOT, "not found (deleted meanwhile)")
    if job.status in PROCESSING:
        with job_lock(job_id) as free:
            return decide(job, key=key, force=force, lock_free=free)
    return decide(job, key=key, force=force)


# ---------------------------------------------------------------- claiming and running


@dataclass(frozen=True)
class Claim:
    job_id: UUID
    user_id: UUID
    started_at: str


@transaction.atomic
def claim(
    job_id: UUID,
    *,
    key: str,
    mode: str,
    force: bool = False,
    redo_analysis: bool = False,
    lock_free: bool = False,
) -> tuple[Decision, Claim | None]:
    """Claim the job for a reprocessing run (no scan charged), in one transaction. With
    mode "task" the pipeline task is enqueued in the same transaction (database backend)."""
    from imports_app.tasks import process_import_job

    # unscoped: the operator's command claims one selected job, row-locked
    job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
    if job is None:
        return Decision(CANNOT, "not found (deleted meanwhile)"), None
    decision = decide(job, key=key, force=force, lock_free=lock_free)
    if decision.action != REPROCESS:
        return decision, None
    now = timezone.now()
    if redo_analysis and job.checkpoint:
        state = json.loads(job.checkpoint)
        state["analysis"] = []
        job.checkpoint = json.dumps(state)
    # unscoped: the stream of the job claimed above
    last = Stream.objects.filter(key=job.stream_key).values_list("last_seq", flat=True).first()
    job.run_since = last or 0
    job.status = "extracting"
    job.stage = "initialization"
    job.progress = 0
    job.message = "Reprocessing"
    job.error = None
    job.processing_started_at = now
    job.updated_at = now
    job.expires_at = None
    job.reprocess = {"key": key, "at": now.isoformat(), "mode": mode}
    job.save(
        update_fields=[
            "checkpoint", "run_since", "status", "stage", "progress", "message", "error",
            "processing_started_at", "updated_at", "expires_at", "reprocess",
        ]
    )  # fmt: skip
    run = Claim(job_id=job.id, user_id=job.user_id, started_at=now.isoformat())
    if mode == "task":
        args = (str(run.job_id), str(run.user_id), run.started_at)
        if settings.MEDIQOM_TASKS_BACKEND == "database":
            # The database backend writes the task row in this transaction: claimed and
            # queued together, or neither.
            process_import_job.enqueue(*args)
        else:
            # In-process backends start at once: only after the claim is committed.
            transaction.on_commit(lambda: process_import_job.enqueue(*args))
    return decision, run


def run_inline(run: Claim) -> str:
    """Run a claimed job's pipeline here; returns its final status."""
    user = SupabaseUser(id=run.user_id, claims={"sub": str(run.user_id), "role": "authenticated"})
    return import_job_run(user=user, job_id=run.job_id, started_at=run.started_at)


def status_of(job_id: UUID) -> str | None:
    # unscoped: the operator's command reports the job's status
    return ImportJob.objects.filter(pk=job_id).values_list("status", flat=True).first()
