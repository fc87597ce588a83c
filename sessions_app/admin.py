"""Sessions in the admin: status, duration and counts only, never transcript or analysis text."""

from __future__ import annotations

from django.contrib import admin

from mediqom.records.admin import ReadOnlyAdmin
from sessions_app.models import ConsultationSession


@admin.register(ConsultationSession)
class ConsultationSessionAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "owner_id", "status", "language", "created_at", "duration", "transcript_count",
        "event_count", "analysis_count", "analysis_provider", "end_reason",
    ]  # fmt: skip
    list_filter = ["status", "language", "analysis_provider", "end_reason"]
    FIELDS = (
        "id", "owner_id", "status", "language", "models_requested", "translate", "created_at",
        "last_activity_at", "ended_at", "end_reason", "duration", "transcript_count",
        "transcript_chars", "event_count", "analysis_count", "analysis_provider",
        "analysis_running", "analysis_last_at",
    )  # fmt: skip
    fields = FIELDS
    readonly_fields = FIELDS
    ordering = ["-created_at"]

    @admin.display(description="duration (s)")
    def duration(self, obj: ConsultationSession) -> int:
        return obj.duration_seconds
