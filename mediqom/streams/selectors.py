"""Reads of the stream log, always scoped to the caller through for_user() (and RLS)."""

from __future__ import annotations

from dataclasses import dataclass

from mediqom.auth.tokens import SupabaseUser
from mediqom.db.rls import rls_context
from mediqom.errors import NotFound
from mediqom.streams.models import Stream, StreamEvent


@dataclass(frozen=True)
class StreamState:
    last_seq: int
    trimmed_seq: int
    ended: bool


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    payload: str  # compact JSON, as appended


def stream_get(*, user: SupabaseUser, key: str) -> Stream:
    """The caller's stream; another user's stream is a 404 identical to a missing one."""
    with rls_context(user):
        stream = Stream.objects.for_user(user).filter(key=key).first()
    if stream is None:
        raise NotFound()
    return stream


def stream_read(
    *, user: SupabaseUser, key: str, after: int, limit: int
) -> tuple[StreamState | None, list[StoredEvent]]:
    """The stream's counters and up to `limit` events with seq > after, oldest first.
    (None, []) when the stream does not exist (yet) or is not the caller's."""
    with rls_context(user):
        stream = (
            Stream.objects.for_user(user)
            .filter(key=key)
            .values_list("last_seq", "trimmed_seq", "ended_at")
            .first()
        )
        if stream is None:
            return None, []
        rows = list(
            StreamEvent.objects.for_user(user)
            .filter(stream_id=key, seq__gt=after)
            .order_by("seq")
            .values_list("seq", "payload")[:limit]
        )
    state = StreamState(last_seq=stream[0], trimmed_seq=stream[1], ended=stream[2] is not None)
    return state, [StoredEvent(seq, payload) for seq, payload in rows]
