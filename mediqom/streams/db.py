"""Database work of live streams off the event loop, on a few threads that keep their
connection open (an SSE connect, a backfill or a log poll must not pay for a new PostgreSQL
connection each time). A connection that failed is closed and reopened on next use."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper

T = TypeVar("T")

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_opened: set[BaseDatabaseWrapper] = set()


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=settings.MEDIQOM_STREAM_DB_THREADS, thread_name_prefix="stream-db"
            )
        return _executor


def _guarded(call: Callable[[], T]) -> T:
    connection = connections[DEFAULT_DB_ALIAS]  # this thread's own connection
    with _lock:
        _opened.add(connection)
    try:
        return call()
    except DatabaseError:
        connection.close()
        raise
    finally:
        if connection.in_atomic_block:  # never leave a transaction open between calls
            connection.close()


async def run(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run a sync database function on the stream threads."""
    loop = asyncio.get_running_loop()
    call = functools.partial(function, *args, **kwargs)
    return await loop.run_in_executor(_pool(), _guarded, call)


def close_connections() -> None:
    """Close the stream threads' connections (tests, before the test database is dropped)."""
    with _lock:
        opened = list(_opened)
        _opened.clear()
    for wrapper in opened:
        wrapper.inc_thread_sharing()
        try:
            wrapper.close()
        finally:
            wrapper.dec_thread_sharing()
