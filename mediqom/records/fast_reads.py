"""The document list in one round trip (bench/README.md, P1): PostgreSQL only.

`GET /v1/med/profiles/{pid}/documents` is the hottest read (every app start). The DRF view
(`selectors.documents_list`) costs six statements and ~6 ms of Python per request; this path
sends two statements in one libpq pipeline (`mediqom.db.pipeline`; one Sync: one round trip,
one implicit transaction, committed durably at the Sync, rolled back whole on any error):

1. the RLS switch (`mediqom.db.rls`): role `authenticated` and the caller's claims,
   transaction-local, so everything after runs under the policies;
2. one statement that reads the documents and the caller's grants with the ORM's own scoped
   SQL (`for_user()`, compiled once per process, embedded as subqueries; only the documents'
   grant check is written out, see `_HOLDS_GRANT`), writes the audit rows
   of exactly what it returns (a data-modifying CTE: the rows `audit_entries` writes, grouped
   the same way, same order), and returns the documents and grants as rows, in binary
   (one row per document and grant, in the view's order; or one row with only the flags).

Python verifies the token, then builds the view's dicts from the rows and encodes them with
the view's renderer options (orjson), so the body is the DRF view's byte for byte
(tests/records/test_fast_reads.py). PostgreSQL building the JSON itself cost more of its CPU
than the read (bench/README.md, fourth round).

Anything unusual is not handled here and returns None: the caller then serves the request
through the DRF view. That covers a first request (no profile row yet: the view creates it), a
profile that is not visible (the view answers 404 with its envelope), connections inside an
outer transaction (tests), SQLite, and database errors (rolled back; the view retries).
"""

# The statement is put together from the ORM's compiled SQL and constants; every value is a
# query parameter (nothing from a request is ever formatted into it).
# ruff: noqa: S608

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC
from typing import Any
from uuid import UUID

import orjson
import psycopg
from django.conf import settings
from django.db import DatabaseError, connections
from django.utils import timezone

from mediqom.audit.services import RECORD_ID_SEPARATOR, AuditContext
from mediqom.auth.tokens import SupabaseUser
from mediqom.db import pipeline
from mediqom.db.compiled import CompiledIds, CompiledQuery
from mediqom.db.rls import _SWITCH, RLS_ROLE, _claims_json
from mediqom.records.models import DOCUMENT_TYPES, Document, Key, Profile
from mediqom.records.selectors import documents_listed

# bench/peers/ours_noaudit.py turns this off to measure the audit's cost (bench only).
AUDIT_READS = True


def _profile_visible(ids: CompiledIds) -> Any:
    """`selectors.profile_visible`'s scope: the profile, if the caller may see it."""
    return Profile.objects.for_user(ids).filter(pk=ids.ids[1]).only("id")


PROFILE_VISIBLE: CompiledQuery[Profile] = CompiledQuery(_profile_visible, id_count=2)


def _caller_keys(ids: CompiledIds) -> Any:
    """The caller's own grants (`Key.for_user()`, addressed to the caller). The statement joins
    them to the scoped documents; `selectors.CALLER_KEYS_IN_PROFILE` joins `documents` itself,
    which under RLS runs the documents policy once more per grant (bench/README.md)."""
    return Key.objects.for_user(ids).filter(user_id=ids.id)


CALLER_KEYS: CompiledQuery[Key] = CompiledQuery(_caller_keys, id_count=2)

_ALL_TYPES = tuple(DOCUMENT_TYPES)


@dataclass(frozen=True)
class _Statement:
    sql: str
    # Where each parameter comes from, resolved once per process: ("id", n, hex) the n-th id
    # (caller, profile) of an embedded query, as a UUID or its hex; ("const", value, False) a
    # constant of an embedded query; ("name", name, False) a per-request value.
    params: tuple[tuple[str, Any, bool], ...]
    wire: pipeline.Statement


def _embedded(compiled: Any) -> list[tuple[str, Any, bool]]:
    """An embedded query's parameters as `_Statement.params` entries (what
    `CompiledQuery.statement` would put in for the ids, without building it per request)."""
    return [
        ("const", param, False) if slot is None else ("id", slot, isinstance(param, str))
        for slot, param in zip(compiled.slots, compiled.params, strict=True)
    ]


def _documents_in_visible_profile(ids: CompiledIds, types: tuple[str, ...], full: bool) -> Any:
    """`selectors.DOCUMENTS_OF_PROFILE` without `Document.for_user()`'s grant check, which the
    statement applies itself (`_HOLDS_GRANT`)."""
    # unscoped: the grant check is _HOLDS_GRANT (and the documents policy under RLS)
    return documents_listed(Document.objects.all(), ids, types, full)


DOCUMENTS_IN_VISIBLE_PROFILE: CompiledQuery[Document] = CompiledQuery(
    _documents_in_visible_profile, id_count=2
)

# `Document.for_user()`'s rule (the caller holds a grant addressed to it for the document),
# checked per document. Written out because of the plan: the ORM's `EXISTS` is turned by
# PostgreSQL into a join that a prepared (generic) plan may drive from *all* of the caller's
# grants, so a clinician holding thousands of grants elsewhere paid for every one of them on
# each list (24.7 ms instead of ~1.5 with 5,000; bench/README.md, fourth round). `offset 0`
# keeps the subquery a per-row check on `keys (user_id, document_id)`.
# tests/records/test_fast_reads.py checks the answers against the view's (a linked parent
# sees only the documents it holds a grant for).
_HOLDS_GRANT = (
    "exists (select 1 from keys g where g.document_id = x.id and g.user_id = %s offset 0)"
)


def _build(full: bool, audit: bool) -> _Statement:
    using = "default"
    docs = DOCUMENTS_IN_VISIBLE_PROFILE.compiled(_ALL_TYPES, full, using=using)
    keys = CALLER_KEYS.compiled(using=using)
    visible = PROFILE_VISIBLE.compiled(using=using)
    params: list[tuple[str, Any, bool]] = _embedded(docs)
    params += [("name", "uid", False), ("name", "uid", False)]
    params += _embedded(keys)
    extra_columns = ", x.content, x.attachments" if full else ""
    sql = (
        "with d as materialized (select x.id, x.metadata, x.type, x.user_id, x.author_id"
        + extra_columns
        + ","
        " row_number() over (order by x.created_at, x.id) as n"
        f" from ({docs.sql}) as x"
        f" where {_HOLDS_GRANT}"
        # A first request (no profile row yet) is the view's: it creates the profile.
        " and exists (select 1 from public.profiles where id = %s)),"
        # Each grant carries its document's place and profile: nothing below joins d and k.
        " k as materialized (select y.id, y.created_at, y.document_id, y.owner_id, y.user_id,"
        " y.key, y.author_id, d.n as dn, d.user_id as profile,"
        " row_number() over (order by y.created_at, y.id) as n"
        f" from ({keys.sql}) as y join d on d.id = y.document_id)"
    )
    if audit:
        # selectors.documents_list's rows as audit_entries groups them (audit.services.grouped):
        # one row for the documents, one for their grants, ids joined in the view's order.
        sql += (
            ", a as (insert into audit_log (at, actor_id, profile_id, record_type, record_id,"
            " action, outcome, request_id, ip)"
            " select %s, %s, e.p, e.t, e.r, 'list', 'success', %s, %s from ("
            " select 0 as o, d.user_id as p, 'document'::text as t,"
            f" string_agg(d.id::text, '{RECORD_ID_SEPARATOR}' order by d.n) as r"
            " from d group by d.user_id"
            " union all select 1, k.profile, 'key',"
            f" string_agg(k.id::text, '{RECORD_ID_SEPARATOR}' order by k.dn, k.n)"
            " from k group by k.profile) as e order by e.o)"
        )
        params += [("name", name, False) for name in ("at", "uid", "request_id", "ip")]
    # Rows, not JSON: PostgreSQL's JSON functions cost more of its CPU than the whole read
    # (bench/README.md, fourth round); Python puts the view's dicts together from them.
    # First the flags row, then each document (grant place 0) followed by its grants, in the
    # view's order; columns as in `_items`. UUIDs as text: PostgreSQL writes them faster than
    # Python's str(UUID) (~1 us each, 160 per answer).
    content = "d.content, d.attachments" if full else "null, null"
    sql += (
        " select f.own, f.visible, null::bigint, null::bigint, null::text, null::text,"
        " null::text, null::text, null::text, null::text, null::varchar[], null::timestamptz"
        " from (select exists (select 1 from public.profiles where id = %s) as own,"
        f" exists ({visible.sql}) as visible) as f"
        " union all select null, null, d.n, 0, d.id::text, d.metadata, d.type,"
        f" d.user_id::text, d.author_id::text, {content}, null from d"
        " union all select null, null, k.dn, k.n, k.id::text, k.key, k.document_id::text,"
        " k.owner_id::text, k.user_id::text, k.author_id::text, null, k.created_at from k"
        " order by 3 nulls first, 4"
    )
    params.append(("name", "uid", False))
    params += _embedded(visible)
    return _Statement(sql, tuple(params), pipeline.Statement(sql, binary=True))


_statements: dict[tuple[bool, bool], _Statement] = {}
_SWITCH_STATEMENT = pipeline.Statement(_SWITCH)

# Renderer options of mediqom.api.renderers.OrjsonRenderer (the view's bytes).
_OPTIONS = orjson.OPT_NON_STR_KEYS


@dataclass
class Trace:
    """Statements and pipeline syncs (round trips) the fast path sent, per process
    (tests/records/test_fast_reads.py pins them per request)."""

    statements: int = 0
    round_trips: int = 0


trace = Trace()


def documents_list(
    user: SupabaseUser, audit: AuditContext, profile_id: UUID, full: bool
) -> bytes | None:
    """The DRF view's 200 body for this caller and profile, or None: serve it through the view.

    Must not run inside an outer transaction (the pipeline is its own transaction)."""
    wrapper = connections["default"]
    if wrapper.vendor != "postgresql" or wrapper.in_atomic_block or wrapper.errors_occurred:
        return None
    for attempt in (0, 1):
        reused = wrapper.connection is not None
        try:
            rows = _run(wrapper, user, audit, profile_id, full)
        except psycopg.OperationalError:
            # A connection the server dropped (restart, idle timeout): what was sent did not
            # commit, so one more try on a new connection (no health-check round trip before
            # every request). Should the commit have gone through and only its answer been
            # lost, the retry audits a second read: never fewer audit rows than reads.
            wrapper.close()
            if attempt or not reused:
                return None
            continue
        except _NotHere:
            return None
        except (psycopg.Error, DatabaseError):
            _reset(wrapper)
            return None
        finally:
            _close_if_obsolete(wrapper)
        own_profile, visible = rows[0][0], rows[0][1]
        if not own_profile or not visible:
            return None  # the view creates the profile / answers 404
        return orjson.dumps(_items(rows, full), option=_OPTIONS)
    return None


class _NotHere(Exception):
    """The connection is not in autocommit mode (someone opened a transaction by hand)."""


def _run(
    wrapper: Any, user: SupabaseUser, audit: AuditContext, profile_id: UUID, full: bool
) -> list[tuple[Any, ...]]:
    wrapper.ensure_connection()
    if not wrapper.autocommit:
        raise _NotHere()
    raw: psycopg.Connection[Any] = wrapper.connection
    key = (full, AUDIT_READS)
    statement = _statements.get(key)
    if statement is None:
        statement = _statements[key] = _build(full, AUDIT_READS)
    params = _parameters(statement, user, audit, profile_id)
    switch = [RLS_ROLE, _claims_json(user), str(user.id)]
    try:
        rows = pipeline.run(
            raw, [(_SWITCH_STATEMENT, switch), (statement.wire, params)], prepare=_prepare()
        )
    except BaseException:
        # the pipeline's state is unknown: this connection is not used again
        pipeline.forget(raw)
        wrapper.close()
        raise
    trace.statements += 2
    trace.round_trips += 1
    if not rows:
        raise DatabaseError("no row")
    return rows


def _parameters(
    statement: _Statement, user: SupabaseUser, audit: AuditContext, profile_id: UUID
) -> list[Any]:
    ids = (user.id, profile_id)
    named = {
        "uid": user.id,
        "at": timezone.now(),
        "request_id": audit.request_id,
        "ip": audit.ip,
    }
    values: list[Any] = []
    for kind, value, as_hex in statement.params:
        if kind == "id":
            values.append(ids[value].hex if as_hex else ids[value])
        elif kind == "const":
            values.append(value)
        else:
            values.append(named[value])
    return values


def _items(rows: list[tuple[Any, ...]], full: bool) -> list[dict[str, Any]]:
    """`selectors.documents_list`'s dicts from the statement's rows after the flags row
    (binary: text, UUIDs cast to text, aware datetimes, lists), same keys, order and formats.

    Columns: document place, grant place (0 for the document itself), then for a document
    id, metadata, type, user_id, author_id, content, attachments; for a grant id, key,
    document_id, owner_id, user_id, author_id, -, created_at."""
    items: list[dict[str, Any]] = []
    keys: list[dict[str, Any]] = []
    for row in rows[1:]:
        if row[3] == 0:
            keys = []
            item: dict[str, Any] = {
                "id": row[4],
                "metadata": row[5],
                "type": row[6],
                "user_id": row[7],
                "author_id": row[8],
                "keys": keys,
            }
            if full:
                item["content"] = row[9]
                item["attachments"] = list(row[10] or [])
            items.append(item)
        else:
            keys.append(
                {
                    "id": row[4],
                    "created_at": row[11].astimezone(UTC).isoformat(),
                    "document_id": row[6],
                    "owner_id": row[7],
                    "user_id": row[8],
                    "key": row[5],
                    "author_id": row[9],
                }
            )
    return items


def _prepare() -> bool:
    """Prepare the two statements on each connection (planning the main one costs more than
    running it). Django's own cursors never prepare; only this path's statements are named."""
    return bool(settings.MEDIQOM_FAST_READS_PREPARE)


def _reset(wrapper: Any) -> None:
    """After an error: nothing half-done may stay on the connection."""
    raw = wrapper.connection
    if raw is None:
        return
    try:
        if raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            raw.execute("rollback")
    except psycopg.Error:
        wrapper.close()


def _close_if_obsolete(wrapper: Any) -> None:
    """DB_CONN_MAX_AGE as Django applies it at the end of a request (0: close every time)."""
    if wrapper.close_at is not None and time.monotonic() >= wrapper.close_at:
        wrapper.close()
