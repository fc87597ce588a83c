"""Reads of import jobs, always through for_user()."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from imports_app.models import ImportJob
from mediqom.auth.tokens import SupabaseUser
from mediqom.errors import NotFound

LISTED_STATUSES = ("created", "extracting", "analyzing", "completed", "error")


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
    return entries if isinstance(entries, list) else []
