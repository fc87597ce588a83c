"""The Stripe webhook (contract §2.8): verify the signature, then apply each event exactly once.

Every event is recorded in `billing_stripe_events` (its id is the primary key) in the same
transaction that applies it to `subscriptions` and `purchase_history`: a replayed or
concurrently duplicated event finds the row (or waits on the unique index until the first
delivery commits) and changes nothing. Subscription events of one Stripe subscription are
serialised by an advisory lock and ordered by Stripe's `created`: an event older than one
already applied, or any state event after the subscription was deleted, is recorded as
`stale` and not applied. Unknown event types are acknowledged and recorded as `ignored`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from mediqom.auth.tokens import SupabaseUser
from mediqom.billing.models import CheckoutSession, PurchaseEvent, StripeEvent
from mediqom.billing.stripe_client import (
    StripeNotConfigured,
    StripeUnavailable,
    stripe_client,
    tier_for_price,
)
from mediqom.errors import ApiError, InvalidInput
from mediqom.logging import get_logger
from mediqom.records import quotas
from mediqom.records.models import Profile, ScanPack, Subscription, SubscriptionTier

log = get_logger("api")

SUBSCRIPTION_STATE_EVENTS = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)
# Stripe subscription status → ours; None: leave the row alone (e.g. `incomplete`, not paid yet).
STATUS_MAP: dict[str, str | None] = {
    "active": "active",
    "trialing": "trialing",
    "past_due": "past_due",
    "canceled": "canceled",
    "unpaid": "expired",
    "incomplete_expired": "expired",
    "paused": "expired",
    "incomplete": None,
}
UNLIMITED_PROFILES = 999


class WebhookNotConfigured(ApiError):
    status = 503
    code = "stripe_not_configured"
    default_message = "The Stripe webhook is not configured on this server"


def _bad_request(message: str, code: str) -> InvalidInput:
    return InvalidInput(message, code=code, legacy_error=True)


def webhook_receive(*, payload: bytes, signature: str | None) -> dict[str, Any]:
    """Verify a delivery (raw body + Stripe-Signature) and apply its event once."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise WebhookNotConfigured()
    if not signature:
        raise _bad_request("Missing signature", "missing_signature")
    try:
        stripe.Webhook.construct_event(
            payload, signature, secret, tolerance=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS
        )
    except stripe.SignatureVerificationError:
        log.warning("stripe webhook refused: invalid signature")
        raise _bad_request("Invalid signature", "invalid_signature") from None
    except (ValueError, AttributeError):  # signed, but not a JSON object
        raise _bad_request("Invalid payload", "invalid_payload") from None
    event = json.loads(payload)
    if not (
        isinstance(event, dict)
        and isinstance(event.get("id"), str)
        and isinstance(event.get("type"), str)
        and isinstance(event.get("created"), int)
        and isinstance(event.get("data"), dict)
        and isinstance(event["data"].get("object"), dict)
    ):
        raise _bad_request("Invalid payload", "invalid_payload")
    outcome = event_apply(event)
    return {
        "received": True,
        "event_id": event["id"],
        "event_type": event["type"],
        "status": "error" if outcome == "error" else "processed",
        "outcome": outcome,
    }


@dataclass
class _Result:
    outcome: str  # processed | ignored | stale | error
    user_id: uuid.UUID | None = None
    detail: str = ""


@transaction.atomic
def event_apply(event: dict[str, Any]) -> str:
    """Apply one verified event in one transaction; "duplicate" when it was seen before."""
    obj: dict[str, Any] = event["data"]["object"]
    try:
        with transaction.atomic():
            record = StripeEvent.objects.create(
                id=event["id"],
                type=event["type"],
                created=datetime.fromtimestamp(event["created"], tz=UTC),
                object_id=_object_id(event["type"], obj),
                outcome="processing",
            )
    except IntegrityError:
        log.info("stripe event %s already handled", event["type"])
        return "duplicate"
    handler = HANDLERS.get(event["type"])
    result = handler(event, obj, record) if handler else _Result("ignored", detail="unhandled")
    record.outcome, record.user_id, record.detail = result.outcome, result.user_id, result.detail
    record.save(update_fields=["outcome", "user_id", "detail"])
    log.info("stripe event %s: %s %s", event["type"], result.outcome, result.detail)
    return result.outcome


def _object_id(event_type: str, obj: dict[str, Any]) -> str | None:
    """The Stripe subscription an event is about (for ordering), else the object's own id."""
    if event_type.startswith("customer.subscription."):
        return _str(obj.get("id"))
    if event_type.startswith("invoice."):
        return _invoice_subscription(obj) or _str(obj.get("id"))
    if event_type.startswith("checkout.session."):
        return _ref(obj.get("subscription")) or _str(obj.get("id"))
    return _str(obj.get("id"))


def _invoice_subscription(invoice: dict[str, Any]) -> str | None:
    """The invoice's subscription: top-level before Stripe API 2025-03-31, under
    `parent.subscription_details` since."""
    parent = invoice.get("parent")
    details = parent.get("subscription_details") if isinstance(parent, dict) else None
    nested = details.get("subscription") if isinstance(details, dict) else None
    return _ref(invoice.get("subscription")) or _ref(nested)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _ref(value: Any) -> str | None:
    """A Stripe reference: an id string, or an expanded object's id."""
    if isinstance(value, dict):
        return _str(value.get("id"))
    return _str(value)


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _account(user_id: uuid.UUID | None) -> uuid.UUID | None:
    """`user_id` if it names an account owner we know (purchase rows reference the profile)."""
    if user_id is None:
        return None
    return user_id if Profile.objects.filter(pk=user_id, auth_id=user_id).exists() else None


def _user_for(*, metadata_user: Any, subscription_id: str | None, customer_id: str | None) -> Any:
    by_metadata = _account(_uuid(metadata_user))
    if by_metadata is not None:
        return by_metadata
    for field, value in (
        ("stripe_subscription_id", subscription_id),
        ("stripe_customer_id", customer_id),
    ):
        if value:
            found = Subscription.objects.filter(**{field: value}).values_list("pk", flat=True)
            ids = list(found[:2])
            if len(ids) == 1:
                return _account(ids[0])
    return None


def _locked(user_id: uuid.UUID) -> Subscription:
    """The user's subscription row, locked (a free one is created on first use)."""
    return quotas.subscription_ensure(user=SupabaseUser(id=user_id, claims={}))


def _lock_stripe_object(object_id: str) -> None:
    """Serialise the events of one Stripe subscription until this transaction ends."""
    if connection.vendor != "postgresql":
        return  # SQLite serialises writers anyway
    with connection.cursor() as cursor:
        cursor.execute(
            "select pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"mediqom.stripe.subscription:{object_id}"],
        )


def _is_stale(record: StripeEvent, subscription_id: str) -> bool:
    """The subscription was deleted already, or (for anything but its deletion, which is
    final) a newer state event of it was applied."""
    applied = StripeEvent.objects.filter(
        object_id=subscription_id, type__in=SUBSCRIPTION_STATE_EVENTS, outcome="processed"
    ).exclude(pk=record.pk)
    if applied.filter(type="customer.subscription.deleted").exists():
        return True
    if record.type == "customer.subscription.deleted":
        return False
    return applied.filter(created__gt=record.created).exists()


def _set_tier(subscription: Subscription, tier: SubscriptionTier) -> None:
    """Move to `tier`; a new tier starts a new yearly scan allowance (credits are kept)."""
    if subscription.tier_id != tier.id:
        subscription.tier_id = tier.id
        subscription.scans_base = tier.scan_limit
        subscription.scans_used = 0
        subscription.scans_reset_at = timezone.now() + quotas.RESET_PERIOD
    subscription.profiles = (
        tier.profile_limit if tier.profile_limit is not None else UNLIMITED_PROFILES
    )


def _timestamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if isinstance(value, int) else None


def _log_purchase(
    event: dict[str, Any], *, user_id: uuid.UUID, event_type: str, **fields: Any
) -> None:
    PurchaseEvent.objects.create(
        user_id=user_id,
        event_type=event_type,
        source="stripe",
        idempotency_key=event["id"],
        **fields,
    )


def _currency(obj: dict[str, Any]) -> str:
    return str(obj.get("currency") or "eur").upper()


# ---------------------------------------------------------------- handlers


def _checkout_completed(
    event: dict[str, Any], session: dict[str, Any], record: StripeEvent
) -> _Result:
    metadata = session.get("metadata") or {}
    ours = CheckoutSession.objects.filter(pk=session.get("id")).first()
    user_id = _account(ours.user_id if ours else _uuid(metadata.get("user_id")))
    if user_id is None:
        return _Result("error", detail="unknown_user")
    if ours is not None and _uuid(metadata.get("user_id")) not in (None, user_id):
        return _Result("error", user_id, "user_mismatch")
    mode = session.get("mode")
    paid = session.get("payment_status") in ("paid", "no_payment_required")
    if not paid:
        return _Result("ignored", user_id, "payment_pending")
    if mode == "subscription":
        return _subscription_checkout(event, session, record, user_id, ours)
    if mode == "payment":
        return _pack_checkout(event, session, user_id, ours)
    return _Result("ignored", user_id, "unknown_mode")


def _subscription_checkout(
    event: dict[str, Any],
    session: dict[str, Any],
    record: StripeEvent,
    user_id: uuid.UUID,
    ours: CheckoutSession | None,
) -> _Result:
    metadata = session.get("metadata") or {}
    tier_id = (ours.tier_id if ours else None) or metadata.get("tier_id")
    tier = SubscriptionTier.objects.filter(pk=tier_id, is_active=True).first()
    if tier is None:
        return _Result("error", user_id, "unknown_tier")
    subscription_id = _ref(session.get("subscription"))
    if subscription_id:
        _lock_stripe_object(subscription_id)
    subscription = _locked(user_id)
    subscription.source = "stripe"
    subscription.stripe_customer_id = _ref(session.get("customer")) or (
        subscription.stripe_customer_id
    )
    stale = subscription_id is not None and _is_stale(record, subscription_id)
    replaced = subscription.stripe_subscription_id
    detail = "state_not_applied_newer_exists" if stale else ""
    if not stale and replaced and subscription_id and replaced != subscription_id:
        # A plan change through a new checkout (the client's "upgrade to"): end the plan it
        # replaces, or the user would be billed for both.
        detail = _cancel_replaced(replaced)
    if not stale:
        _set_tier(subscription, tier)
        subscription.status = "active"
        subscription.stripe_subscription_id = subscription_id
        if subscription.current_period_start is None:
            subscription.current_period_start = timezone.now()
    subscription.updated_at = timezone.now()
    subscription.save()
    _log_purchase(
        event,
        user_id=user_id,
        event_type="subscription_created",
        amount=session.get("amount_total"),
        currency=_currency(session),
        external_id=session.get("id"),
        tier_id=tier.id,
        metadata={
            "billing_cycle": metadata.get("billing_cycle"),
            "subscription_id": subscription_id,
        },
    )
    return _Result("processed", user_id, detail)


def _cancel_replaced(subscription_id: str) -> str:
    """Cancel (prorated) the Stripe subscription a new one replaces; the detail to record."""
    try:
        client = stripe_client()
    except StripeNotConfigured:
        log.error("replaced stripe subscription not canceled: no STRIPE_SECRET_KEY")
        return "replaced_subscription_not_canceled"
    try:
        client.v1.subscriptions.cancel(subscription_id, params={"prorate": True})
    except stripe.InvalidRequestError as exc:
        # Gone or already canceled (e.g. a retried delivery after a rollback): nothing to end.
        if exc.code != "resource_missing" and "canceled" not in str(exc.user_message or ""):
            raise StripeUnavailable() from exc
    except stripe.StripeError as exc:
        # 502: the transaction (and the event row) rolls back, so Stripe's retry runs it again.
        log.error("canceling a replaced stripe subscription failed: %s", type(exc).__name__)
        raise StripeUnavailable() from exc
    return "replaced_subscription_canceled"


def _pack_checkout(
    event: dict[str, Any],
    session: dict[str, Any],
    user_id: uuid.UUID,
    ours: CheckoutSession | None,
) -> _Result:
    metadata = session.get("metadata") or {}
    pack_id = (ours.pack_id if ours else None) or metadata.get("pack_id")
    pack = ScanPack.objects.filter(pk=pack_id).first()
    if pack is None:
        return _Result("error", user_id, "unknown_pack")
    subscription = _locked(user_id)  # also serialises the "already credited" check
    already = PurchaseEvent.objects.filter(
        user_id=user_id, event_type="pack_purchased", external_id=session.get("id")
    )
    if already.exists():
        return _Result("ignored", user_id, "already_credited")
    try:
        scans = int(metadata.get("scans") or pack.scans)
    except ValueError:
        scans = pack.scans
    if scans <= 0:
        return _Result("error", user_id, "no_scans")
    subscription.scans_credits += scans
    subscription.updated_at = timezone.now()
    subscription.save(update_fields=["scans_credits", "updated_at"])
    _log_purchase(
        event,
        user_id=user_id,
        event_type="pack_purchased",
        amount=session.get("amount_total"),
        currency=_currency(session),
        external_id=session.get("id"),
        scans_added=scans,
        metadata={"pack_id": pack.id},
    )
    return _Result("processed", user_id)


def _subscription_changed(
    event: dict[str, Any], obj: dict[str, Any], record: StripeEvent
) -> _Result:
    subscription_id = _str(obj.get("id"))
    customer_id = _ref(obj.get("customer"))
    metadata = obj.get("metadata") or {}
    if subscription_id is None:
        return _Result("error", detail="no_subscription_id")
    user_id = _user_for(
        metadata_user=metadata.get("user_id"),
        subscription_id=subscription_id,
        customer_id=customer_id,
    )
    if user_id is None:
        return _Result("error", detail="unknown_user")
    _lock_stripe_object(subscription_id)
    subscription = _locked(user_id)
    if customer_id and subscription.stripe_customer_id not in (None, customer_id):
        return _Result("error", user_id, "customer_mismatch")
    if _is_stale(record, subscription_id):
        return _Result("stale", user_id)
    if event["type"] == "customer.subscription.deleted":
        return _subscription_ended(event, subscription, subscription_id, user_id)
    status = STATUS_MAP.get(str(obj.get("status")))
    if status is None:
        return _Result("ignored", user_id, f"status_{obj.get('status')}")
    items = (obj.get("items") or {}).get("data") or []
    first = items[0] if items and isinstance(items[0], dict) else {}
    price_id = _ref(first.get("price"))
    tier = tier_for_price(price_id) if price_id else None
    if tier is None and metadata.get("tier_id"):
        tier = SubscriptionTier.objects.filter(pk=metadata["tier_id"], is_active=True).first()
    if tier is not None and status in ("active", "trialing", "past_due"):
        _set_tier(subscription, tier)
    subscription.status = status
    subscription.source = "stripe"
    subscription.stripe_subscription_id = subscription_id
    subscription.stripe_customer_id = customer_id or subscription.stripe_customer_id
    subscription.cancel_at_period_end = bool(obj.get("cancel_at_period_end"))
    subscription.current_period_start = _timestamp(
        first.get("current_period_start", obj.get("current_period_start"))
    )
    subscription.current_period_end = _timestamp(
        first.get("current_period_end", obj.get("current_period_end"))
    )
    subscription.updated_at = timezone.now()
    subscription.save()
    return _Result("processed", user_id)


def _subscription_ended(
    event: dict[str, Any], subscription: Subscription, subscription_id: str, user_id: uuid.UUID
) -> _Result:
    if subscription.stripe_subscription_id not in (None, subscription_id):
        return _Result("ignored", user_id, "not_the_current_subscription")
    free = SubscriptionTier.objects.filter(pk=quotas.FREE_TIER).first()
    if free is not None:
        _set_tier(subscription, free)
    else:
        subscription.tier_id = quotas.FREE_TIER
        subscription.scans_base = quotas.FREE_SCANS
        subscription.profiles = quotas.FREE_PROFILE_LIMIT
    subscription.status = "active"
    subscription.stripe_subscription_id = None
    subscription.cancel_at_period_end = False
    subscription.current_period_start = None
    subscription.current_period_end = None
    subscription.updated_at = timezone.now()
    subscription.save()
    _log_purchase(
        event,
        user_id=user_id,
        event_type="subscription_canceled",
        currency="EUR",
        external_id=subscription_id,
        tier_id=quotas.FREE_TIER,
    )
    return _Result("processed", user_id)


def _invoice_paid(event: dict[str, Any], invoice: dict[str, Any], record: StripeEvent) -> _Result:
    if invoice.get("billing_reason") != "subscription_cycle":
        return _Result("ignored", detail="not_a_renewal")
    user_id = _user_for(
        metadata_user=None,
        subscription_id=_invoice_subscription(invoice),
        customer_id=_ref(invoice.get("customer")),
    )
    if user_id is None:
        return _Result("error", detail="unknown_user")
    _log_purchase(
        event,
        user_id=user_id,
        event_type="subscription_renewed",
        amount=invoice.get("amount_paid"),
        currency=_currency(invoice),
        external_id=invoice.get("id"),
    )
    return _Result("processed", user_id)


def _invoice_failed(event: dict[str, Any], invoice: dict[str, Any], record: StripeEvent) -> _Result:
    subscription_id = _invoice_subscription(invoice)
    user_id = _user_for(
        metadata_user=None,
        subscription_id=subscription_id,
        customer_id=_ref(invoice.get("customer")),
    )
    if user_id is None:
        return _Result("error", detail="unknown_user")
    if subscription_id:
        _lock_stripe_object(subscription_id)
    subscription = _locked(user_id)
    current = subscription.stripe_subscription_id in (None, subscription_id)
    if current and not (subscription_id and _is_stale(record, subscription_id)):
        subscription.status = "past_due"
        subscription.updated_at = timezone.now()
        subscription.save(update_fields=["status", "updated_at"])
    _log_purchase(
        event,
        user_id=user_id,
        event_type="payment_failed",
        amount=invoice.get("amount_due"),
        currency=_currency(invoice),
        external_id=invoice.get("id"),
        metadata={"attempt_count": invoice.get("attempt_count")},
    )
    return _Result("processed", user_id)


HANDLERS = {
    "checkout.session.completed": _checkout_completed,
    "checkout.session.async_payment_succeeded": _checkout_completed,
    "customer.subscription.created": _subscription_changed,
    "customer.subscription.updated": _subscription_changed,
    "customer.subscription.deleted": _subscription_changed,
    "invoice.paid": _invoice_paid,
    "invoice.payment_failed": _invoice_failed,
}
