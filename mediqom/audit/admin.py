"""The audit log in the admin: read-only and filterable."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from mediqom.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "at",
        "actor_id",
        "action",
        "record_type",
        "record_id",
        "profile_id",
        "outcome",
        "ip",
        "request_id",
    )
    list_filter = ("action", "record_type", "outcome", ("at", admin.DateFieldListFilter))
    search_fields = ("actor_id", "profile_id", "record_id", "request_id", "ip")
    date_hierarchy = "at"
    readonly_fields = list_display

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
