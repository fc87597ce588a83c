"""Progress callbacks: (stage, progress 0-100, message), thread-safe, scalable to a range."""

from __future__ import annotations

import threading
from collections.abc import Callable

ProgressFn = Callable[[str, float, str], None]


def no_progress(stage: str, progress: float, message: str) -> None:
    return None


def locked(fn: ProgressFn) -> ProgressFn:
    """The callback serialised (extraction nodes report from several threads)."""
    lock = threading.Lock()

    def emit(stage: str, progress: float, message: str) -> None:
        with lock:
            fn(stage, progress, message)

    return emit


def scaled(fn: ProgressFn, start: float, end: float) -> ProgressFn:
    """A callback that maps its own 0-100 scale onto start-end of `fn`."""

    def emit(stage: str, progress: float, message: str) -> None:
        fraction = min(max(progress, 0.0), 100.0) / 100.0
        fn(stage, round(start + fraction * (end - start), 2), message)

    return emit
