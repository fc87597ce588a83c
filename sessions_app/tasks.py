"""Background work of live consultations: the incremental analysis and the housekeeping.

`schedule_session_analysis` is called after a transcript is committed. With the database task
backend the run is a task any worker process picks up; in the embedded default it runs on a
daemon thread of this process (never on the request that added the text)."""

from __future__ import annotations

import threading
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import connections, transaction
from django_tasks import task

from mediqom.logging import get_logger
from sessions_app import services

log = get_logger("analysis")


@task()
def session_analysis_task(session_id: str) -> int:
    return services.session_analysis_run(user=None, session_id=UUID(session_id))


@task()
def session_housekeeping_task() -> dict[str, int]:
    """End idle sessions, purge expired ones."""
    return {"ended": services.sessions_end_idle(), "purged": services.sessions_purge()}


def _run_in_thread(session_id: UUID) -> None:
    try:
        services.session_analysis_run(user=None, session_id=session_id)
    except Exception as exc:  # noqa: BLE001 - a thread must log, not die silently
        log.error("session analysis thread failed (%s)", type(exc).__name__)
    finally:
        connections.close_all()  # this thread's connections only


def _start(session_id: UUID) -> None:
    backend: Any = settings.TASKS["default"]["BACKEND"]
    if "ImmediateBackend" in str(backend):
        threading.Thread(
            target=_run_in_thread, args=(session_id,), name=f"analysis-{session_id}", daemon=True
        ).start()
    else:
        session_analysis_task.enqueue(str(session_id))


def schedule_session_analysis(session_id: UUID) -> None:
    """Start a background analysis once the current transaction commits."""
    transaction.on_commit(lambda: _start(session_id))
