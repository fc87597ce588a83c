"""Writing audit rows. Call inside the transaction that reads or writes the record."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from mediqom.audit.models import AuditEvent
from mediqom.logging import request_id_var


@dataclass(frozen=True)
class AuditContext:
    """Who is acting and from where; built once per request or unit of work."""

    actor_id: UUID | None
    ip: str = ""
    request_id: str = ""


def audit_record(
    ctx: AuditContext,
    *,
    record_type: str,
    action: str,
    record_id: object = "",
    profile_id: UUID | None = None,
    outcome: str = "success",
) -> None:
    """Append one audit row."""
    audit_records(
        ctx,
        record_type=record_type,
        action=action,
        rows=[(record_id, profile_id)],
        outcome=outcome,
    )


def audit_records(
    ctx: AuditContext,
    *,
    record_type: str,
    action: str,
    rows: Iterable[tuple[object, UUID | None]],
    outcome: str = "success",
) -> None:
    """Append one audit row per (record id, profile id) in a single INSERT."""
    request_id = ctx.request_id or request_id_var.get()
    AuditEvent.objects.bulk_create(
        AuditEvent(
            actor_id=ctx.actor_id,
            profile_id=profile_id,
            record_type=record_type,
            record_id=str(record_id),
            action=action,
            outcome=outcome,
            request_id=request_id,
            ip=ctx.ip,
        )
        for record_id, profile_id in rows
    )
