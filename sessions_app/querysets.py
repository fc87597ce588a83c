"""Per-user scoping of the sessions tables: the ORM mirror of their RLS policies (migration
0002). A session of another user is a 404 identical to a missing one."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

from django.db import models

if TYPE_CHECKING:
    from sessions_app.models import (  # noqa: F401 - named in QuerySet["..."] below
        ConsultationSession,
        SessionFeedback,
        SessionTranscript,
    )


class HasId(Protocol):
    @property
    def id(self) -> UUID: ...


class SessionQuerySet(models.QuerySet["ConsultationSession"]):
    def for_user(self, user: HasId) -> SessionQuerySet:
        return self.filter(owner_id=user.id)

    def active(self) -> SessionQuerySet:
        return self.filter(status="active")

    def idle_since(self, cutoff: datetime) -> SessionQuerySet:
        return self.active().filter(last_activity_at__lt=cutoff)

    def expired(self, cutoff: datetime) -> SessionQuerySet:
        """Ended sessions whose TTL is over."""
        return self.filter(status="ended", ended_at__lt=cutoff)


class SessionTranscriptQuerySet(models.QuerySet["SessionTranscript"]):
    def for_user(self, user: HasId) -> SessionTranscriptQuerySet:
        return self.filter(owner_id=user.id)


class SessionFeedbackQuerySet(models.QuerySet["SessionFeedback"]):
    def for_user(self, user: HasId) -> SessionFeedbackQuerySet:
        return self.filter(owner_id=user.id)
