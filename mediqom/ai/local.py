"""The offline `local` provider: a registry of deterministic functions, one per flow.

Other apps register theirs at import time (AppConfig.ready), e.g.
`register_local("extraction", extract_lab_values)`. Structured flows take
`(*, schema, system, content, language) -> dict`; chat flows `(*, messages) -> str | Iterable[str]`;
`transcription` `(*, audio, filename, mime, language, prompt) -> str`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

LocalFn = Callable[..., Any]

_lock = threading.Lock()
_registry: dict[str, LocalFn] = {}


def register_local(flow: str, fn: LocalFn) -> None:
    """Register (or replace) the offline function for a flow."""
    with _lock:
        _registry[flow] = fn


def unregister_local(flow: str) -> None:
    """Remove a flow's offline function (tests)."""
    with _lock:
        _registry.pop(flow, None)


def local_function(flow: str) -> LocalFn | None:
    """The registered offline function for a flow, if any."""
    with _lock:
        return _registry.get(flow)


@contextmanager
def local_override(flow: str, fn: LocalFn) -> Iterator[None]:
    """Use `fn` for the flow inside the block, then put back what was registered (tests)."""
    with _lock:
        previous = _registry.get(flow)
        _registry[flow] = fn
    try:
        yield
    finally:
        with _lock:
            if previous is None:
                _registry.pop(flow, None)
            else:
                _registry[flow] = previous
