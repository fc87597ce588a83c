"""The records domain, with Mediqom/Supabase table and column names (contract §5).

Column names keep Supabase's spelling (`fullName`, `publicKey`, …) so the server can run on an
existing Mediqom database; Python attributes are snake_case.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.db import models
from django.db.models.functions import Upper
from django.utils import timezone

from crypto_app.fields import EncryptedTextField
from mediqom.db.fields import TextArrayField
from mediqom.records.querysets import (
    DocumentQuerySet,
    KeyQuerySet,
    PrivateKeyQuerySet,
    ProfileLinkQuerySet,
    ProfileQuerySet,
    RecoveryAttemptQuerySet,
    SubscriptionQuerySet,
)

DOCUMENT_TYPES = ("document", "profile", "health", "internal")
SINGLETON_DOCUMENT_TYPES = ("profile", "health")
LANGUAGES = ("en", "cs", "de")


class Profile(models.Model):
    """A person: an account owner (id = auth user id) or a virtual family profile."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    auth_id = models.UUIDField(unique=True, null=True, blank=True)
    owner_id = models.UUIDField(null=True, blank=True, db_index=True)
    full_name = models.TextField(db_column="fullName", null=True, blank=True)
    avatar_url = models.TextField(db_column="avatarUrl", null=True, blank=True)
    subscription = models.TextField(default="individual")
    public_key = models.TextField(db_column="publicKey", null=True, blank=True)
    language = models.TextField(default="cs", null=True, blank=True)
    email = models.TextField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = ProfileQuerySet.as_manager()

    class Meta:
        db_table = "profiles"
        # recovery looks accounts up by email, case-insensitively (`email__iexact` = UPPER())
        indexes = [models.Index(Upper("email"), name="profiles_email_upper_idx")]

    def __str__(self) -> str:
        return f"profile {self.id}"

    @property
    def is_virtual(self) -> bool:
        return self.auth_id is None


class PrivateKey(models.Model):
    """A profile's RSA private key, encrypted by the client (PBKDF2, passkey PRF or recovery)."""

    profile = models.OneToOneField(
        Profile,
        primary_key=True,
        on_delete=models.CASCADE,
        db_column="id",
        related_name="private_key",
    )
    private_key = models.TextField(db_column="privateKey")
    key_hash = models.TextField(default="")
    # Encrypted at rest with the server's field keys; returned only to the profile's owner.
    key_pass = EncryptedTextField(null=True, blank=True)
    key_derivation_method = models.TextField(null=True, blank=True, default="passphrase")
    passkey_credential_id = models.TextField(null=True, blank=True)
    passkey_prf_salt = models.TextField(null=True, blank=True)
    recovery_encrypted_key = models.TextField(null=True, blank=True)
    recovery_key_hash = models.TextField(null=True, blank=True)
    recovery_created_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = PrivateKeyQuerySet.as_manager()

    class Meta:
        db_table = "private_keys"

    def __str__(self) -> str:
        return f"private key of {self.profile_id}"


class ProfileLink(models.Model):
    """Who may act on which profile (parent → profile), with a status."""

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(default=timezone.now)
    profile = models.ForeignKey(
        Profile, on_delete=models.CASCADE, related_name="parent_links", db_column="profile_id"
    )
    parent = models.ForeignKey(
        Profile, on_delete=models.CASCADE, related_name="child_links", db_column="parent_id"
    )
    status = models.TextField(default="request")

    objects = ProfileLinkQuerySet.as_manager()

    class Meta:
        db_table = "profiles_links"

    def __str__(self) -> str:
        return f"link {self.parent_id} -> {self.profile_id} ({self.status})"


class Document(models.Model):
    """An encrypted medical record: `content` and `metadata` are client AES-GCM envelopes."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    content = models.TextField(default="")
    metadata = models.TextField()
    profile = models.ForeignKey(
        Profile, on_delete=models.CASCADE, related_name="documents", db_column="user_id"
    )
    type = models.TextField(default="document")
    author_id = models.UUIDField(db_index=True)
    attachments = TextArrayField(default=list)

    objects = DocumentQuerySet.as_manager()

    class Meta:
        db_table = "documents"
        indexes = [models.Index(fields=["profile", "type"], name="documents_user_type_idx")]
        constraints = [
            # At most one `profile` and one `health` root document per profile, also under
            # concurrent creates and for rows the creating user cannot see (RLS).
            models.UniqueConstraint(
                fields=["profile", "type"],
                condition=models.Q(type__in=SINGLETON_DOCUMENT_TYPES),
                name="documents_one_root_per_profile",
            ),
        ]

    def __str__(self) -> str:
        return f"document {self.id}"


class Key(models.Model):
    """A document key wrapped (RSA-OAEP) for one profile: the sharing/ACL table."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    # DO_NOTHING: Django would delete the caller's own grant first, after which RLS no longer
    # lets it delete the document. The database cascades instead (ON DELETE CASCADE, migration
    # 0002); on SQLite the delete service removes the grants itself.
    document = models.ForeignKey(
        Document, on_delete=models.DO_NOTHING, related_name="keys", db_column="document_id"
    )
    owner = models.ForeignKey(
        Profile, on_delete=models.CASCADE, related_name="+", db_column="owner_id"
    )
    user = models.ForeignKey(
        Profile, on_delete=models.CASCADE, related_name="+", db_column="user_id"
    )
    key = models.TextField()
    author_id = models.UUIDField(db_index=True)

    objects = KeyQuerySet.as_manager()

    class Meta:
        db_table = "keys"
        indexes = [models.Index(fields=["user", "document"], name="keys_user_document_idx")]

    def __str__(self) -> str:
        return f"key of {self.document_id} for {self.user_id}"


class SubscriptionTier(models.Model):
    id = models.TextField(primary_key=True)
    name = models.TextField()
    profile_limit = models.IntegerField(null=True, blank=True)
    scan_limit = models.IntegerField(default=5)
    price_monthly_eur = models.IntegerField(default=0)
    price_yearly_eur = models.IntegerField(default=0)
    stripe_product_id = models.TextField(null=True, blank=True)
    stripe_price_monthly_eur = models.TextField(null=True, blank=True)
    stripe_price_yearly_eur = models.TextField(null=True, blank=True)
    apple_product_id_monthly = models.TextField(null=True, blank=True)
    apple_product_id_yearly = models.TextField(null=True, blank=True)
    google_product_id_monthly = models.TextField(null=True, blank=True)
    google_product_id_yearly = models.TextField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    sort_order = models.IntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "subscription_tiers"
        ordering = ["sort_order"]

    def __str__(self) -> str:
        return self.id


class ScanPack(models.Model):
    id = models.TextField(primary_key=True)
    name = models.TextField()
    scans = models.IntegerField()
    price_eur = models.IntegerField()
    stripe_price_id = models.TextField(null=True, blank=True)
    apple_product_id = models.TextField(null=True, blank=True)
    google_product_id = models.TextField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "scan_packs"

    def __str__(self) -> str:
        return self.id


def _next_year() -> Any:
    return timezone.now() + timedelta(days=365)


class Subscription(models.Model):
    """Quota and billing state of one auth user (id = auth user id)."""

    STATUSES = ("active", "past_due", "canceled", "expired", "trialing")
    SOURCES = ("stripe", "apple", "google", "manual")

    id = models.UUIDField(primary_key=True)
    profiles = models.IntegerField(default=1)
    scans = models.IntegerField(default=10)
    updated_at = models.DateTimeField(default=timezone.now)
    tier_id = models.TextField(default="free", db_index=True)
    status = models.TextField(default="active", db_index=True)
    source = models.TextField(default="manual")
    stripe_customer_id = models.TextField(null=True, blank=True, db_index=True)
    stripe_subscription_id = models.TextField(null=True, blank=True, db_index=True)
    apple_original_transaction_id = models.TextField(null=True, blank=True)
    google_purchase_token = models.TextField(null=True, blank=True)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    scans_base = models.IntegerField(default=5)
    scans_used = models.IntegerField(default=0)
    scans_credits = models.IntegerField(default=0)
    scans_reset_at = models.DateTimeField(default=_next_year)

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        db_table = "subscriptions"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    status__in=("active", "past_due", "canceled", "expired", "trialing")
                ),
                name="subscriptions_status_check",
            ),
            models.CheckConstraint(
                condition=models.Q(source__in=("stripe", "apple", "google", "manual")),
                name="subscriptions_source_check",
            ),
        ]

    def __str__(self) -> str:
        return f"subscription of {self.id}"

    @property
    def scans_available(self) -> int:
        if self.status not in ("active", "trialing"):
            return 0
        return max(self.scans_base - self.scans_used, 0) + max(self.scans_credits, 0)


class RecoveryAttempt(models.Model):
    """Every recovery or encryption-method change attempt, failed or not."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user_id = models.UUIDField(null=True, blank=True, db_index=True)
    attempt_type = models.TextField()
    success = models.BooleanField(default=False)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = RecoveryAttemptQuerySet.as_manager()

    class Meta:
        db_table = "recovery_attempts"

    def __str__(self) -> str:
        return f"{self.attempt_type} {'ok' if self.success else 'failed'}"
