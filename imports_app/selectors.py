"""Reads of import jobs, always through for_user()."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from django.utils import timezone

from imports_app.models import ImportJob
from mediqom.auth.tokens import SupabaseUser
from mediqom.errors import NotFound

LISTED_STATUSES = ("created", "extracting", "analyzing", "completed", "error")
# The manifest key holding each file's page fingerprints (server-side only, never listed).
FINGERPRINTS = "pageFingerprints"


def import_job_get(*, user: SupabaseUser, job_id: UUID) -> ImportJob:
    """The caller's job; another user's job is a 404 identical to a missing one."""
    job = ImportJob.objects.for_user(user).filter(pk=job_id).first()
    if job is None:
        raise NotFound("Import job not found", code="import_job_not_found")
    return job


def import_job_list(*, user: SupabaseUser) -> list[ImportJob]:
    """The caller's live jobs, newest first (expired ones are purged first by the view)."""
    return list(
        ImportJob.objects.for_user(user).filter(status__in=LISTED_STATUSES).order_by("-created_at")
    )


def job_manifest(job: ImportJob) -> list[dict[str, Any]]:
    """The client's manifest (decrypted), as it sent it; page images are gone once extracted."""
    try:
        entries = json.loads(job.manifest or "[]")
    except ValueError:
        return []
    if not isinstance(entries, list):
        return []
    return [
        {k: v for k, v in entry.items() if k != FINGERPRINTS} if isinstance(entry, dict) else entry
        for entry in entries
    ]


def import_job_covering(*, user: SupabaseUser, fingerprints: list[str]) -> UUID | None:
    """The caller's live, charged job that already imported these very pages (one of its
    files, page for page), if any: its thumbnails and re-extraction cost no second scan."""
    from imports_app.pipeline.pages import same_pages

    jobs = ImportJob.objects.for_user(user).filter(scan_deducted=True)
    live = jobs.exclude(expires_at__lt=timezone.now()).exclude(status="expired")
    for job_id, manifest in live.values_list("id", "manifest"):
        try:
            entries = json.loads(manifest or "[]")
        except ValueError:
            continue
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and same_pages(entry.get(FINGERPRINTS) or [], fingerprints):
                return UUID(str(job_id))
    return None
