"""Quotas: scans and family-profile limits (contract §5.5, §8.4), atomic under concurrency.

Python replacements for the reference's SQL functions `consume_scan`, `check_scans_available`
and `check_profile_limit`, with its bugs fixed: the user always comes from the token, a free
subscription row is created on first use, the profile limit counts the caller's own virtual
(family) profiles, and an unlimited tier (`profile_limit` null) really is unlimited. Every
function that reads a subscription for a decision locks its row (`SELECT … FOR UPDATE`), so two
concurrent requests of one user are serialised.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypedDict

from django.db import IntegrityError, transaction
from django.utils import timezone

from mediqom.auth.tokens import SupabaseUser
from mediqom.errors import Forbidden
from mediqom.records.models import Profile, Subscription, SubscriptionTier

ACTIVE_STATUSES = ("active", "trialing")
FREE_TIER = "free"
FREE_SCANS = 5
FREE_PROFILE_LIMIT = 1
RESET_PERIOD = timedelta(days=365)


class ScanResult(TypedDict, total=False):
    success: bool
    reason: str  # consumed | no_scans | subscription_inactive
    source: str | None  # base | credits
    remaining_base: int
    remaining_credits: int
    available: int
    status: str


class ProfileLimit(TypedDict):
    can_create: bool
    current_count: int
    limit: int | None
    tier: str
    is_unlimited: bool


def _tier(tier_id: str) -> SubscriptionTier | None:
    return SubscriptionTier.objects.filter(pk=tier_id, is_active=True).first()


def _locked_subscription(user: SupabaseUser) -> Subscription:
    """The caller's subscription row: created free if missing, locked, yearly reset applied."""
    scoped = Subscription.objects.for_user(user).select_for_update()
    subscription = scoped.filter(pk=user.id).first()
    if subscription is None:
        free = _tier(FREE_TIER)
        try:
            with transaction.atomic():
                Subscription.objects.create(
                    id=user.id,
                    tier_id=FREE_TIER,
                    status="active",
                    source="manual",
                    scans_base=free.scan_limit if free is not None else FREE_SCANS,
                    scans_used=0,
                    scans_credits=0,
                    profiles=1,
                    scans_reset_at=timezone.now() + RESET_PERIOD,
                )
        except IntegrityError:
            pass  # created by a concurrent request of the same user
        subscription = scoped.get(pk=user.id)
    now = timezone.now()
    if subscription.scans_reset_at is not None and subscription.scans_reset_at <= now:
        tier = _tier(subscription.tier_id)
        subscription.scans_base = tier.scan_limit if tier is not None else FREE_SCANS
        subscription.scans_used = 0
        subscription.scans_reset_at = now + RESET_PERIOD
        subscription.updated_at = now
        subscription.save(
            update_fields=["scans_base", "scans_used", "scans_reset_at", "updated_at"]
        )
    return subscription


def _remaining(subscription: Subscription) -> tuple[int, int]:
    base = max(subscription.scans_base - subscription.scans_used, 0)
    return base, max(subscription.scans_credits, 0)


@transaction.atomic
def subscription_ensure(*, user: SupabaseUser) -> Subscription:
    """The caller's subscription, a free one created on first use (idempotent, race-safe)."""
    return _locked_subscription(user)


@transaction.atomic
def consume_scan(*, user: SupabaseUser) -> ScanResult:
    """Use one scan: the base allowance first, then purchased credits; active/trialing only."""
    subscription = _locked_subscription(user)
    if subscription.status not in ACTIVE_STATUSES:
        return {
            "success": False,
            "reason": "subscription_inactive",
            "status": subscription.status,
            "available": 0,
        }
    base, credits = _remaining(subscription)
    source: str | None = None
    if base > 0:
        subscription.scans_used += 1
        base -= 1
        source = "base"
        changed = "scans_used"
    elif credits > 0:
        subscription.scans_credits -= 1
        credits -= 1
        source = "credits"
        changed = "scans_credits"
    if source is not None:
        subscription.updated_at = timezone.now()
        subscription.save(update_fields=[changed, "updated_at"])
    return {
        "success": source is not None,
        "reason": "consumed" if source is not None else "no_scans",
        "source": source,
        "remaining_base": base,
        "remaining_credits": credits,
        "available": base + credits,
    }


def require_scan(*, user: SupabaseUser) -> ScanResult:
    """Consume one scan or refuse with 403 "Subscription limit reached" (for import routes)."""
    result = consume_scan(user=user)
    if not result["success"]:
        raise Forbidden("Subscription limit reached", code="subscription_limit_reached")
    return result


@transaction.atomic
def check_scans_available(*, user: SupabaseUser) -> dict[str, Any]:
    """How many scans the caller has left (0 while the subscription is not active/trialing)."""
    subscription = _locked_subscription(user)
    base, credits = _remaining(subscription)
    active = subscription.status in ACTIVE_STATUSES
    return {
        "available": base + credits if active else 0,
        "base_remaining": base,
        "base_total": subscription.scans_base,
        "base_used": subscription.scans_used,
        "credits": credits,
        "tier_id": subscription.tier_id,
        "status": subscription.status,
        "reset_at": subscription.scans_reset_at,
    }


def _profile_limit(user: SupabaseUser, tier: SubscriptionTier | None) -> ProfileLimit:
    limit = tier.profile_limit if tier is not None else FREE_PROFILE_LIMIT
    count = Profile.objects.for_user(user).owned_virtual(user).count()
    return {
        "can_create": limit is None or count < limit,
        "current_count": count,
        "limit": limit,
        "tier": tier.name if tier is not None else "Free",
        "is_unlimited": limit is None,
    }


@transaction.atomic
def check_profile_limit(*, user: SupabaseUser) -> ProfileLimit:
    """May the caller add a family profile? (the row lock is held until commit)"""
    subscription = _locked_subscription(user)
    return _profile_limit(user, _tier(subscription.tier_id))


@transaction.atomic
def subscription_with_usage(*, user: SupabaseUser) -> dict[str, Any]:
    """GET /v1/billing/subscription: the subscription row plus usage (SubscriptionWithUsage)."""
    from mediqom.records.selectors import subscription_payload, tier_payload

    subscription = _locked_subscription(user)
    tier = _tier(subscription.tier_id)
    limit = _profile_limit(user, tier)
    base, _ = _remaining(subscription)
    return {
        **subscription_payload(subscription),
        "scans_available": subscription.scans_available,
        "scans_remaining_base": base,
        "tier": tier_payload(tier) if tier is not None else None,
        "profile_count": limit["current_count"],
        "can_create_profile": limit["can_create"],
    }


@transaction.atomic
def refund_scan(*, user: SupabaseUser, source: str | None) -> None:
    """Give back one scan taken by consume_scan (`source` as it returned: base or credits),
    e.g. for an import that failed before any AI call."""
    subscription = _locked_subscription(user)
    if source == "base" and subscription.scans_used > 0:
        subscription.scans_used -= 1
        changed = "scans_used"
    elif source == "credits":
        subscription.scans_credits += 1
        changed = "scans_credits"
    else:
        return
    subscription.updated_at = timezone.now()
    subscription.save(update_fields=[changed, "updated_at"])
