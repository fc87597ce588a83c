"""Billing that takes effect (Stripe checkout, webhook) and beta applications (contract §5.2, §5.3).

The subscription and catalogue tables live in `mediqom.records`; this app adds the Mediqom
`purchase_history` and `beta_applications` tables, plus three of our own: the checkout sessions
a user started (so a session id is only ever answered to its owner), the Stripe events already
processed (idempotency by event id) and the beta form's per-IP attempt log (rate limit).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from mediqom.billing.querysets import CheckoutSessionQuerySet, PurchaseEventQuerySet

BILLING_CYCLES = ("monthly", "yearly")


class CheckoutSession(models.Model):
    """A Stripe Checkout session started by a user (hosted or embedded)."""

    MODES = ("subscription", "payment")
    UI_MODES = ("hosted", "embedded")

    id = models.TextField(primary_key=True)  # Stripe's cs_… id
    # A foreign key to profiles(id) ON DELETE CASCADE in the database (migration 0003), not in
    # Django: deleting a (family) profile as the user must not make Django touch this table.
    user_id = models.UUIDField()
    mode = models.TextField()
    ui_mode = models.TextField(default="hosted")
    tier_id = models.TextField(null=True, blank=True)
    billing_cycle = models.TextField(null=True, blank=True)
    pack_id = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = CheckoutSessionQuerySet.as_manager()

    class Meta:
        db_table = "billing_checkout_sessions"
        indexes = [models.Index(fields=["user_id"], name="billing_checkout_user_idx")]

    def __str__(self) -> str:
        return f"checkout {self.id}"


class PurchaseEvent(models.Model):
    """One billing event of a user (Mediqom's `purchase_history`, an audit trail)."""

    EVENT_TYPES = (
        "subscription_created",
        "subscription_renewed",
        "subscription_upgraded",
        "subscription_downgraded",
        "subscription_canceled",
        "subscription_expired",
        "pack_purchased",
        "trial_started",
        "trial_ended",
        "payment_failed",
        "refund",
    )

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user_id = models.UUIDField()  # → profiles(id) ON DELETE CASCADE, in the database only
    event_type = models.TextField()
    source = models.TextField()
    amount = models.IntegerField(null=True, blank=True)  # cents
    currency = models.TextField(null=True, blank=True, default="EUR")
    external_id = models.TextField(null=True, blank=True, db_index=True)
    tier_id = models.TextField(null=True, blank=True)
    scans_added = models.IntegerField(null=True, blank=True)
    idempotency_key = models.TextField(null=True, blank=True, unique=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = PurchaseEventQuerySet.as_manager()

    class Meta:
        db_table = "purchase_history"
        indexes = [models.Index(fields=["user_id"], name="purchase_history_user_idx")]

    def __str__(self) -> str:
        return f"{self.event_type} of {self.user_id}"


class StripeEvent(models.Model):
    """A Stripe webhook event already handled: its id is the idempotency key.

    `object_id` and `created` order the subscription events of one Stripe subscription, so an
    older event delivered late never overwrites a newer state.
    """

    OUTCOMES = ("processed", "ignored", "stale", "error")

    id = models.TextField(primary_key=True)  # Stripe's evt_… id
    type = models.TextField()
    created = models.DateTimeField()  # Stripe's event.created
    object_id = models.TextField(null=True, blank=True)
    user_id = models.UUIDField(null=True, blank=True)
    outcome = models.TextField()
    detail = models.TextField(blank=True, default="")
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "billing_stripe_events"
        indexes = [
            models.Index(fields=["object_id", "created"], name="billing_stripe_object_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id} ({self.outcome})"


class BetaApplication(models.Model):
    """An application for beta access (public form, reviewed by staff in the admin)."""

    STATUSES = ("pending", "approved", "rejected", "converted")
    USER_TYPES = ("family", "provider", "developer", "organization")
    DATA_VOLUMES = ("1-10", "11-50", "51-200", "200+")
    TIMELINES = ("immediately", "week", "month", "exploring")
    COUNTRIES = ("CZ", "DE", "US")
    LANGUAGES = ("en", "cs", "de")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now)
    status = models.TextField(
        default="pending", choices=[(s, s.capitalize()) for s in STATUSES], db_index=True
    )
    admin_notes = models.TextField(null=True, blank=True)
    # → profiles(id) ON DELETE SET NULL, in the database only (as the two tables above)
    profile_id = models.UUIDField(null=True, blank=True)
    user_type = models.TextField(choices=[(v, v) for v in USER_TYPES])
    problem_description = models.TextField()
    current_solution = models.TextField()
    data_volume = models.TextField(choices=[(v, v) for v in DATA_VOLUMES])
    timeline = models.TextField(choices=[(v, v) for v in TIMELINES])
    name = models.TextField()
    # Stored trimmed and lower-cased, so "A@x.cz" and "a@x.cz" are one application.
    email = models.TextField(unique=True)
    phone = models.TextField(null=True, blank=True)
    organization = models.TextField(null=True, blank=True)
    country = models.TextField(choices=[(v, v) for v in COUNTRIES])
    language = models.TextField(choices=[(v, v) for v in LANGUAGES])
    additional_info = models.TextField(null=True, blank=True)
    beta_agreement = models.BooleanField(default=False)
    feedback_agreement = models.BooleanField(default=False)
    confidentiality_agreement = models.BooleanField(default=False)
    terms_agreement = models.BooleanField(default=False)
    email_sent_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.UUIDField(null=True, blank=True)

    class Meta:
        db_table = "beta_applications"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=("pending", "approved", "rejected", "converted")),
                name="beta_applications_status_check",
            ),
        ]

    def __str__(self) -> str:
        return f"beta application {self.id} ({self.status})"


class BetaAttempt(models.Model):
    """One call of the public beta routes, keyed by a keyed digest of the client IP."""

    id = models.BigAutoField(primary_key=True)
    ip_digest = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "billing_beta_attempts"
        indexes = [models.Index(fields=["ip_digest", "created_at"], name="billing_beta_ip_idx")]

    def __str__(self) -> str:
        return f"beta attempt {self.id}"
