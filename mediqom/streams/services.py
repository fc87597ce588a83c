"""Writes to the stream log: append (sync and async), end, purge.

`stream_append` runs inside the caller's transaction when there is one: the stream row is
locked from the `seq` increment until that transaction commits, so commits happen in `seq`
order and the log never has holes. The event is published to the channel layer only after the
commit (`on_commit`), so a published event can always be replayed from the log.

On PostgreSQL an append to an existing stream is one statement (bump the stream's counter and
insert the event under the row lock it takes), so outside a transaction it is one round trip
and one commit (synchronous_commit as configured: durable before the publish). The first
append of a stream, an owner mismatch and SQLite take the general path (upsert the stream row,
then insert, in one transaction).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from uuid import UUID

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from crypto_app.fields import encrypt_value
from mediqom.errors import InvalidInput
from mediqom.streams import db, hub
from mediqom.streams.models import Stream, StreamEvent

KEY_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]{1,40}:[A-Za-z0-9_.\-]{1,80}$")


class StreamOwnerMismatch(ValueError):
    """The key belongs to a stream of another owner (a programming error, never user input)."""


def validate_key(key: str) -> str:
    """`<kind>:<id>` of safe characters, e.g. `session:<uuid>`; bad keys are a 400."""
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise InvalidInput("Invalid stream key", code="invalid_stream_key")
    return key


def _encode(payload: dict[str, Any]) -> tuple[str, str]:
    if not isinstance(payload, dict):
        raise ValueError("a stream event payload must be a dict")
    event_type = payload.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise ValueError('a stream event payload needs a non-empty string "type"')
    try:
        text = orjson.dumps(payload).decode()
    except TypeError as exc:
        raise ValueError("a stream event payload must be JSON-serialisable") from exc
    if len(text) > settings.MEDIQOM_STREAM_MAX_EVENT_BYTES:
        raise ValueError("stream event payload is too large")
    return event_type, text


_UPSERT = """
insert into streams (key, owner_id, last_seq, trimmed_seq, created_at, ended_at)
values (%s, %s, 1, 0, %s, null)
on conflict (key) do update set last_seq = streams.last_seq + 1, ended_at = null
  where streams.owner_id = excluded.owner_id
returning last_seq
"""


def _next_seq(key: str, owner_id: UUID) -> int:
    owner = Stream._meta.get_field("owner_id").get_db_prep_value(owner_id, connection)
    now = Stream._meta.get_field("created_at").get_db_prep_value(timezone.now(), connection)
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT, [key, owner, now])
        row = cursor.fetchone()
    if row is None:
        raise StreamOwnerMismatch(f"stream {key} belongs to another owner")
    return int(row[0])


# The stream row exists and is the owner's: bump its counter and insert the event in one
# statement. The UPDATE locks the row until commit, so concurrent appenders (any process) take
# turns and each gets the next seq; no row (a new stream, another owner, or hidden by RLS)
# means the general path. The event insert's RLS check sees the stream row (its key and owner
# do not change), the FK is checked at the end of the statement.
_APPEND_TO_EXISTING = """
with bumped as (
  update streams set last_seq = last_seq + 1, ended_at = null
  where key = %s and owner_id = %s
  returning last_seq
)
insert into stream_events (stream_key, seq, type, payload, owner_id, created_at)
select %s, last_seq, %s, %s, %s, %s from bumped
returning seq
"""


def _append_to_existing(key: str, owner_id: UUID, event_type: str, text: str) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(
            _APPEND_TO_EXISTING,
            [key, owner_id, key, event_type, encrypt_value(text), owner_id, timezone.now()],
        )
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def _append_general(key: str, owner_id: UUID, event_type: str, text: str) -> int:
    with transaction.atomic():
        seq = _next_seq(key, owner_id)
        StreamEvent.objects.create(
            stream_id=key, seq=seq, type=event_type, payload=text, owner_id=owner_id
        )
    return seq


def stream_append(*, key: str, owner_id: UUID, payload: dict[str, Any]) -> int:
    """Store one event (encrypted) and return its `seq`; publish it after commit.

    Appending to an ended stream reopens it (e.g. a reprocessed import)."""
    validate_key(key)
    event_type, text = _encode(payload)
    seq = None
    if connection.vendor == "postgresql":
        seq = _append_to_existing(key, owner_id, event_type, text)
    if seq is None:
        seq = _append_general(key, owner_id, event_type, text)
    event = orjson.loads(text)
    # outside a transaction the append is committed already and this publishes at once
    transaction.on_commit(lambda: hub.publish_event(key, seq, event))
    return seq


async def astream_append(*, key: str, owner_id: UUID, payload: dict[str, Any]) -> int:
    """`stream_append` for async code: its own transaction, on the stream threads (which keep
    their database connection open, so an append does not pay for a new connection)."""
    return await db.run(stream_append, key=key, owner_id=owner_id, payload=payload)


def stream_end(*, key: str) -> None:
    """Mark a stream ended: live listeners close once caught up, and its retention TTL starts.
    Ending an unknown or already ended stream does nothing."""
    validate_key(key)
    with transaction.atomic():
        # unscoped: called by services and tasks that already authorized the stream's owner
        stream = Stream.objects.select_for_update().filter(key=key, ended_at=None).first()
        if stream is None:
            return
        stream.ended_at = timezone.now()
        stream.save(update_fields=["ended_at"])
        last = stream.last_seq
        transaction.on_commit(lambda: hub.publish_end(key, last))


def stream_purge(*, now: Any = None) -> int:
    """Delete the events of streams that ended more than MEDIQOM_STREAM_RETENTION_SECONDS ago;
    the stream rows stay (their `seq` never restarts) with `trimmed_seq` moved up, so a late
    resume gets an explicit `reset`. Returns the number of events deleted."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.MEDIQOM_STREAM_RETENTION_SECONDS)
    deleted = 0
    with transaction.atomic():
        # unscoped: retention housekeeping (command / periodic task) with the server's rights
        expired = Stream.objects.select_for_update().filter(
            ended_at__lte=cutoff, trimmed_seq__lt=F("last_seq")
        )
        for stream in expired:
            # unscoped: the same housekeeping, events of an expired stream
            count, _ = StreamEvent.objects.filter(stream_id=stream.key).delete()
            deleted += count
            stream.trimmed_seq = stream.last_seq
            stream.save(update_fields=["trimmed_seq"])
    return deleted


def streams_erase(*, user: Any, owner_ids: list[UUID]) -> int:
    """Account deletion: the streams (and every event) of these profiles of the user, at once,
    ended or not — not after the retention TTL."""
    deleted, _ = Stream.objects.for_user(user).filter(owner_id__in=owner_ids).delete()
    return deleted
