"""Periodic work of the stream log (thin: the service does the work)."""

from __future__ import annotations

from django_tasks import task

from mediqom.streams.services import stream_purge


@task()
def stream_purge_task() -> int:
    """Purge events of streams whose retention ended; idempotent."""
    return stream_purge()
