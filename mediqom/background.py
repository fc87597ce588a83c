"""The embedded background worker: a Django Tasks backend that runs each task in a thread.

`ImmediateBackend` runs a task inside the caller (the request would wait for a whole import);
this one hands it to a small process-wide thread pool and returns at once. It keeps no queue
on disk: a task still running when the process exits is lost (jobs detect that through their
lease, see imports_app). Production uses `django_tasks_db.DatabaseBackend` and
`manage.py db_worker` processes on any number of machines.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.db import close_old_connections, connections
from django_tasks.backends.immediate import ImmediateBackend
from django_tasks.base import Task, TaskResult, TaskResultStatus
from django_tasks.utils import get_random_id
from typing_extensions import ParamSpec

T = TypeVar("T")
P = ParamSpec("P")

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mediqom-task")
        return _pool


class ThreadBackend(ImmediateBackend):
    """Runs tasks in background threads of this process (OPTIONS: {"workers": 4})."""

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.workers = int((params.get("OPTIONS") or {}).get("workers", 4))

    def enqueue(self, task: Task[P, T], args: Any, kwargs: Any) -> TaskResult[T]:
        self.validate_task(task)
        result: TaskResult[T] = TaskResult(
            task=task,
            id=get_random_id(),
            status=TaskResultStatus.READY,
            enqueued_at=None,
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        _executor(self.workers).submit(self._run, result)
        return result

    def _run(self, result: TaskResult[Any]) -> None:
        close_old_connections()
        try:
            self._execute_task(result)
        finally:
            connections.close_all()
