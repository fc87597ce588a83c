"""Writing audit rows. Call inside the transaction that reads or writes the record."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from django.db import connection
from django.db.models import Field
from django.utils import timezone

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
    audit_entries(
        ctx,
        [(record_type, action, record_id, profile_id) for record_id, profile_id in rows],
        outcome=outcome,
    )


# Rows per INSERT on SQLite: 9 parameters each stays under its historic limit of 999.
_BATCH = 100
_COLUMNS = (
    *("at", "actor_id", "profile_id", "record_type", "record_id", "action", "outcome"),
    *("request_id", "ip"),
)
# PostgreSQL: one statement whatever the row count, its text constant (psycopg parses it once):
# the per-row values travel as four arrays.
_PG_INSERT = (
    "insert into audit_log (at, actor_id, profile_id, record_type, record_id, action, outcome,"
    " request_id, ip) select %s, %s, u.p, u.t, u.r, u.a, %s, %s, %s"
    " from unnest(%s::uuid[], %s::text[], %s::text[], %s::text[]) as u(p, t, r, a)"
)


# A row's record_id holds the ids of every record of its type, action and profile that the
# operation touched, in order, joined by this separator: listing 20 documents with their 20
# grants writes 2 rows, not 40 (each row costs WAL and four index entries; bench/README.md).
# Only record ids that are UUIDs are joined, so a joined record_id is never ambiguous.
RECORD_ID_SEPARATOR = ","
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def grouped(
    entries: Sequence[tuple[str, str, object, UUID | None]],
) -> list[tuple[str, str, str, UUID | None]]:
    """One entry per (record type, action, profile id), UUID ids joined in first-seen order;
    any other id (a path, an empty one) keeps an entry of its own."""
    groups: dict[tuple[Any, ...], list[str]] = {}
    for n, (record_type, action, record_id, profile_id) in enumerate(entries):
        text = str(record_id)
        if _UUID.fullmatch(text):
            key: tuple[Any, ...] = (record_type, action, profile_id)
        else:
            key = (record_type, action, profile_id, n)
        groups.setdefault(key, []).append(text)
    return [(key[0], key[1], RECORD_ID_SEPARATOR.join(ids), key[2]) for key, ids in groups.items()]


def record_ids(record_id: str) -> list[str]:
    """The record ids one audit row covers (the inverse of `grouped`)."""
    parts = record_id.split(RECORD_ID_SEPARATOR)
    if len(parts) > 1 and all(_UUID.fullmatch(part) for part in parts):
        return parts
    return [record_id]


def audit_entries(
    ctx: AuditContext,
    entries: Sequence[tuple[str, str, object, UUID | None]],
    *,
    outcome: str = "success",
) -> None:
    """Audit every (record type, action, record id, profile id) in one INSERT without
    RETURNING (nothing reads the ids back): a list of documents and their grants costs one
    round trip. Entries of the same type, action and profile share one row (`grouped`)."""
    if not entries:
        return
    entries = grouped(entries)
    request_id = ctx.request_id or request_id_var.get()
    now = timezone.now()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _PG_INSERT,
                [
                    now,
                    ctx.actor_id,
                    outcome,
                    request_id,
                    ctx.ip,
                    [profile_id for _, _, _, profile_id in entries],
                    [record_type for record_type, _, _, _ in entries],
                    [str(record_id) for _, _, record_id, _ in entries],
                    [action for _, action, _, _ in entries],
                ],
            )
        return
    _insert_rows(ctx, entries, outcome=outcome, request_id=request_id, now=now)


def _insert_rows(
    ctx: AuditContext,
    entries: Sequence[tuple[str, str, object, UUID | None]],
    *,
    outcome: str,
    request_id: str,
    now: datetime,
) -> None:
    """Portable multi-row INSERT (SQLite), values prepared by the model's fields."""
    fields = {name: cast(Field[Any, Any], AuditEvent._meta.get_field(name)) for name in _COLUMNS}
    at = fields["at"].get_db_prep_save(now, connection)
    actor = fields["actor_id"].get_db_prep_save(ctx.actor_id, connection)
    params: list[Any] = []
    for record_type, action, record_id, profile_id in entries:
        profile = fields["profile_id"].get_db_prep_save(profile_id, connection)
        params += [at, actor, profile, record_type, str(record_id), action]
        params += [outcome, request_id, ctx.ip]
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(name) for name in _COLUMNS)
    row = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"
    width = len(_COLUMNS)
    with connection.cursor() as cursor:
        for start in range(0, len(entries), _BATCH):
            count = min(_BATCH, len(entries) - start)
            values = ", ".join([row] * count)
            cursor.execute(
                f"insert into {table} ({columns}) values {values}",  # noqa: S608 - model names
                params[start * width : (start + count) * width],
            )
