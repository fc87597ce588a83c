"""Per-user scoping of import jobs: the ORM mirror of the RLS policy (migration 0002)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol
from uuid import UUID

from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    from imports_app.models import ImportJob  # noqa: F401


class HasId(Protocol):
    @property
    def id(self) -> UUID: ...


class ImportJobQuerySet(models.QuerySet["ImportJob"]):
    def for_user(self, user: HasId) -> ImportJobQuerySet:
        """The caller's own jobs."""
        return self.filter(user_id=user.id)

    def expired(self) -> ImportJobQuerySet:
        return self.filter(expires_at__lt=timezone.now())
