"""Ours with the audit writes turned into no-ops: bench/p1.py's `ours-noaudit` (bench only).

Everything else (token check, RLS transaction, queries, serialisation) is the production path;
the difference to `ours` is the audit overhead.
"""

from __future__ import annotations

from typing import Any

from config.wsgi import application
from mediqom.audit import services
from mediqom.records import fast_reads, selectors


def _no_audit(*args: Any, **kwargs: Any) -> None:
    return None


for module in (services, selectors):
    for name in ("audit_record", "audit_records", "audit_entries"):
        if hasattr(module, name):
            setattr(module, name, _no_audit)

fast_reads.AUDIT_READS = False  # the fast path's statement without its audit INSERT

__all__ = ["application"]
