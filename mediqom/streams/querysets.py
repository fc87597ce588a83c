"""Per-user scoping of the stream tables: the ORM mirror of their RLS policies (migration 0002).

A stream is visible to its owning profile's account and to the account owning that profile
(family profiles), exactly like `mediqom_private.owns_profile()`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol
from uuid import UUID

from django.db import models
from django.db.models import Q

if TYPE_CHECKING:
    from mediqom.streams.models import Stream, StreamEvent  # noqa: F401


class HasId(Protocol):
    @property
    def id(self) -> UUID: ...


def _owned(user: HasId) -> Q:
    from mediqom.records.models import Profile

    return Q(owner_id=user.id) | Q(
        owner_id__in=Profile.objects.filter(owner_id=user.id).values("id")
    )


class StreamQuerySet(models.QuerySet["Stream"]):
    def for_user(self, user: HasId) -> StreamQuerySet:
        return self.filter(_owned(user))


class StreamEventQuerySet(models.QuerySet["StreamEvent"]):
    def for_user(self, user: HasId) -> StreamEventQuerySet:
        return self.filter(_owned(user))
