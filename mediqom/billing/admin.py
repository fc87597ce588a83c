"""Admin: beta applications are reviewed here; billing rows are read-only (Stripe is the truth)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from mediqom.billing.models import BetaApplication, CheckoutSession, PurchaseEvent, StripeEvent
from mediqom.records.admin import ReadOnlyAdmin


@admin.register(BetaApplication)
class BetaApplicationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("email", "name", "user_type", "country", "status", "created_at")
    list_filter = ("status", "user_type", "country", "language", "timeline")
    search_fields = ("email", "name", "organization")
    ordering = ("-created_at",)
    actions = ("approve", "reject")
    # What the applicant sent stays as sent; staff change the status and notes only.
    readonly_fields = (
        "id", "created_at", "updated_at", "profile_id", "user_type", "problem_description",
        "current_solution", "data_volume", "timeline", "name", "email", "phone",
        "organization", "country", "language", "additional_info", "beta_agreement",
        "feedback_agreement", "confidentiality_agreement", "terms_agreement", "email_sent_at",
        "approved_at", "approved_by",
    )  # fmt: skip

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: BetaApplication, form: Any, change: bool
    ) -> None:
        obj.updated_at = timezone.now()
        if obj.status == "approved" and obj.approved_at is None:
            obj.approved_at = obj.updated_at
        super().save_model(request, obj, form, change)

    @admin.action(description="Approve the selected applications")
    def approve(self, request: HttpRequest, queryset: QuerySet[BetaApplication]) -> None:
        now = timezone.now()
        count = queryset.filter(status="pending").update(
            status="approved", approved_at=now, updated_at=now
        )
        self.message_user(request, f"{count} application(s) approved.", messages.SUCCESS)

    @admin.action(description="Reject the selected applications")
    def reject(self, request: HttpRequest, queryset: QuerySet[BetaApplication]) -> None:
        count = queryset.filter(status="pending").update(
            status="rejected", updated_at=timezone.now()
        )
        self.message_user(request, f"{count} application(s) rejected.", messages.SUCCESS)


@admin.register(PurchaseEvent)
class PurchaseEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "event_type", "user_id", "tier_id", "scans_added", "amount")
    list_filter = ("event_type", "source")
    search_fields = ("external_id", "idempotency_key")
    ordering = ("-created_at",)


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "type", "id", "outcome", "detail", "user_id")
    list_filter = ("outcome", "type")
    search_fields = ("id", "object_id")
    ordering = ("-received_at",)


@admin.register(CheckoutSession)
class CheckoutSessionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "id", "user_id", "mode", "ui_mode", "tier_id", "pack_id")
    list_filter = ("mode", "ui_mode")
    search_fields = ("id",)
    ordering = ("-created_at",)
