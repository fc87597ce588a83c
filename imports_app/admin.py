"""Admin for import jobs: status, stage, progress and error only, never decrypted content.

The manifest, the resume state and the results are not shown (encrypted or not). Actions: put
a failed job back to `created` so the user's client (or `process`) runs it again, or reprocess
it now in the background (imports_app.reprocess, no scan charged; the same rules as
`manage.py reprocess_imports`).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from imports_app import reprocess
from imports_app.models import ImportJob
from imports_app.services import CREATED_TTL


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "id", "user_id", "status", "stage", "progress", "error", "file_count", "updated_at",
    )  # fmt: skip
    list_filter = ("status", "language", "scan_deducted")
    search_fields = ("id", "user_id")
    ordering = ("-created_at",)
    fields = (
        "id", "user_id", "status", "stage", "progress", "message", "error", "file_count",
        "file_manifest", "language", "scan_deducted", "processing_started_at", "created_at",
        "updated_at", "expires_at", "reprocess",
    )  # fmt: skip
    readonly_fields = fields
    actions = ("retry_failed", "reprocess_now")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Retry the selected failed jobs")
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[ImportJob]) -> None:
        now = timezone.now()
        count = queryset.filter(status="error").update(
            status="created",
            error=None,
            stage=None,
            progress=0,
            message=None,
            processing_started_at=None,
            updated_at=now,
            expires_at=now + CREATED_TTL,
        )
        self.message_user(request, f"{count} job(s) set back to created", messages.SUCCESS)

    @admin.action(description="Reprocess the selected jobs now (no scan charged)")
    def reprocess_now(self, request: HttpRequest, queryset: QuerySet[ImportJob]) -> None:
        key = reprocess.configuration_key(redo_analysis=False)
        queued, refused = 0, []
        for job_id in queryset.values_list("pk", flat=True):
            with reprocess.job_lock(job_id) as free:
                decision, claim = reprocess.claim(job_id, key=key, mode="task", lock_free=free)
            if claim is None:
                refused.append(f"{job_id}: {decision.reason}")
            else:
                queued += 1
        self.message_user(request, f"{queued} job(s) queued for reprocessing", messages.SUCCESS)
        for line in refused[:20]:
            self.message_user(request, f"Not reprocessed {line}", messages.WARNING)
