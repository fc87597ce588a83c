"""Append-only audit of every read and write of medical data (no ciphertext, no PHI)."""

from __future__ import annotations

from typing import Any, NoReturn

from django.db import models
from django.utils import timezone


class AppendOnlyError(RuntimeError):
    """Audit rows are never changed or deleted."""


class AuditQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("audit rows cannot be updated")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("audit rows cannot be deleted")


class AuditEvent(models.Model):
    """One access to records: who, which profile, which records, what, outcome, when, where.

    `record_id` is one id, or the UUIDs of every record of this type and profile the request
    touched, joined by "," (`audit.services.grouped` / `record_ids`)."""

    ACTIONS = ("read", "list", "create", "update", "delete")
    OUTCOMES = ("success", "denied", "not_found", "invalid", "error")

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_id = models.UUIDField(null=True, blank=True, db_index=True)
    profile_id = models.UUIDField(null=True, blank=True, db_index=True)
    record_type = models.TextField()
    record_id = models.TextField(blank=True, default="")
    action = models.TextField()
    outcome = models.TextField(default="success")
    request_id = models.TextField(blank=True, default="")
    ip = models.TextField(blank=True, default="")

    objects = AuditQuerySet.as_manager()

    class Meta:
        db_table = "audit_log"
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} {self.record_type} {self.outcome}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("audit rows cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("audit rows cannot be deleted")
