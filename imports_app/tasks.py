"""Background work of imports (thin: the services do the work)."""

from __future__ import annotations

from uuid import UUID

from django_tasks import task

from imports_app.services import (
    import_job_run,
    import_jobs_purge_expired,
    import_jobs_recover_stale,
)
from mediqom.auth.tokens import SupabaseUser


@task()
def process_import_job(job_id: str, user_id: str, started_at: str) -> str:
    """Run one claimed import job to its end (idempotent: a stale or repeated run is a no-op)."""
    user = SupabaseUser(id=UUID(user_id), claims={"sub": user_id, "role": "authenticated"})
    return import_job_run(user=user, job_id=UUID(job_id), started_at=started_at)


@task()
def purge_expired_import_jobs() -> int:
    """Delete every job past its expiry (completed 1 h, failed 24 h, never started 24 h)."""
    return import_jobs_purge_expired()


@task()
def recover_stale_import_jobs() -> int:
    """Re-enqueue jobs whose worker died mid-run (they resume; no second scan)."""
    return import_jobs_recover_stale()
