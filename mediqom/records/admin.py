"""Admin for clinicians (Django staff accounts): metadata only, never decrypted content.

Ciphertext is shown truncated and read-only; secrets (`key_pass`, private keys, hashes) are not
shown at all. Record pages are read-only: changes go through the API, which audits them.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from mediqom.records.models import Document, Profile, ProfileLink, Subscription, SubscriptionTier

CIPHERTEXT_PREVIEW = 24


def truncated(value: str | None) -> str:
    if not value:
        return ""
    if len(value) <= CIPHERTEXT_PREVIEW:
        return value
    return f"{value[:CIPHERTEXT_PREVIEW]}… ({len(value)} chars)"


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Viewable by staff, never changed or deleted from the admin."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ParentLinkInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ProfileLink
    fk_name = "profile"
    fields = ("parent", "status", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Profile)
class ProfileAdmin(ReadOnlyAdmin):
    list_display = ("id", "full_name", "kind", "language", "subscription", "updated_at")
    list_filter = ("language", "subscription")
    search_fields = ("id", "full_name", "email")
    fields = (
        "id",
        "auth_id",
        "owner_id",
        "full_name",
        "email",
        "language",
        "subscription",
        "avatar_url",
        "public_key_preview",
        "updated_at",
    )
    readonly_fields = fields
    inlines = [ParentLinkInline]

    @admin.display(description="kind")
    def kind(self, obj: Profile) -> str:
        return "virtual" if obj.is_virtual else "account"

    @admin.display(description="public key")
    def public_key_preview(self, obj: Profile) -> str:
        return truncated(obj.public_key)


@admin.register(ProfileLink)
class ProfileLinkAdmin(ReadOnlyAdmin):
    list_display = ("id", "parent_id", "profile_id", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("parent__id", "profile__id")


@admin.register(Document)
class DocumentAdmin(ReadOnlyAdmin):
    list_display = ("id", "type", "profile_id", "author_id", "attachment_count", "updated_at")
    list_filter = ("type",)
    search_fields = ("id", "profile__id", "author_id")
    fields = (
        "id",
        "type",
        "profile",
        "author_id",
        "created_at",
        "updated_at",
        "metadata_preview",
        "content_preview",
        "attachment_count",
        "grant_count",
    )
    readonly_fields = fields
    list_select_related = ("profile",)

    @admin.display(description="metadata (ciphertext)")
    def metadata_preview(self, obj: Document) -> str:
        return truncated(obj.metadata)

    @admin.display(description="content (ciphertext)")
    def content_preview(self, obj: Document) -> str:
        return truncated(obj.content)

    @admin.display(description="attachments")
    def attachment_count(self, obj: Document) -> int:
        return len(obj.attachments or [])

    @admin.display(description="key grants")
    def grant_count(self, obj: Document) -> int:
        return obj.keys.count()


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "tier_id",
        "status",
        "source",
        "scans_base",
        "scans_used",
        "scans_credits",
    )
    list_filter = ("tier_id", "status", "source")
    search_fields = ("id",)


@admin.register(SubscriptionTier)
class SubscriptionTierAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "name", "profile_limit", "scan_limit", "is_active", "sort_order")
