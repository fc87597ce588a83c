"""Billing writes: Stripe checkout (hosted and embedded) and the customer portal (contract §2.8);
beta applications (§2.9). The webhook lives in `webhook.py`."""

from __future__ import annotations

from typing import Any

import stripe
from django.db import IntegrityError, transaction

from mediqom.auth.tokens import SupabaseUser
from mediqom.billing import ratelimit
from mediqom.billing.models import BetaApplication, CheckoutSession
from mediqom.billing.stripe_client import (
    StripeUnavailable,
    pack_price_id,
    stripe_client,
    tier_price_id,
)
from mediqom.db.rls import service_context
from mediqom.errors import ApiError, Conflict, InvalidInput
from mediqom.logging import get_logger
from mediqom.records import quotas
from mediqom.records.models import ScanPack, Subscription, SubscriptionTier

log = get_logger("api")

CHECKOUT_SESSION_ID = "{CHECKOUT_SESSION_ID}"  # Stripe fills it in on redirect


def _with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


def _product(
    *, tier_id: str | None, billing_cycle: str | None, pack_id: str | None
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(price id, session metadata, our session row fields) of what the caller buys."""
    if pack_id:
        pack = ScanPack.objects.filter(pk=pack_id, is_active=True).first()
        if pack is None:
            raise InvalidInput(f"Invalid pack: {pack_id}", code="invalid_pack")
        price = pack_price_id(pack)
        metadata = {"pack_id": pack.id, "scans": str(pack.scans)}
        row = {"mode": "payment", "pack_id": pack.id}
    else:
        assert tier_id is not None  # validated by the input serializer
        assert billing_cycle is not None
        tier = SubscriptionTier.objects.filter(pk=tier_id, is_active=True).first()
        if tier is None:
            raise InvalidInput(f"Invalid tier: {tier_id}", code="invalid_tier")
        price = tier_price_id(tier, billing_cycle)
        metadata = {"tier_id": tier.id, "billing_cycle": billing_cycle}
        row = {"mode": "subscription", "tier_id": tier.id, "billing_cycle": billing_cycle}
    if not price:
        raise InvalidInput("Payment not available for this product", code="price_not_configured")
    return price, metadata, row


def _customer_id(
    client: stripe.StripeClient, *, user: SupabaseUser, subscription: Subscription
) -> str:
    """The caller's Stripe customer, created (and stored) on first checkout.

    The subscription row stays locked until the request commits, so two parallel checkouts
    of one user make one customer; Stripe's idempotency key covers a rolled-back request.
    """
    if subscription.stripe_customer_id:
        return subscription.stripe_customer_id
    params: dict[str, Any] = {"metadata": {"user_id": str(user.id), "source": "mediqom"}}
    if user.email:
        params["email"] = user.email
    customer = client.v1.customers.create(
        params=params,  # type: ignore[arg-type]
        options={"idempotency_key": f"mediqom-customer-{user.id}"},
    )
    subscription.stripe_customer_id = customer.id
    subscription.save(update_fields=["stripe_customer_id"])
    return customer.id


def checkout_create(
    *,
    user: SupabaseUser,
    embedded: bool,
    return_url: str,
    tier_id: str | None = None,
    billing_cycle: str | None = None,
    pack_id: str | None = None,
) -> dict[str, str]:
    """Start a Stripe Checkout session for a tier (subscription) or a scan pack (payment)."""
    client = stripe_client()
    price, metadata, row = _product(tier_id=tier_id, billing_cycle=billing_cycle, pack_id=pack_id)
    metadata = {"user_id": str(user.id), **metadata}
    subscription = quotas.subscription_ensure(user=user)  # locked until the request commits
    params: dict[str, Any] = {
        "mode": row["mode"],
        "line_items": [{"price": price, "quantity": 1}],
        "metadata": metadata,
    }
    if row["mode"] == "subscription":
        params["subscription_data"] = {
            "metadata": {"user_id": str(user.id), "tier_id": metadata["tier_id"]}
        }
        params["allow_promotion_codes"] = True
        params["billing_address_collection"] = "auto"
        params["tax_id_collection"] = {"enabled": True}
    if embedded:
        params["ui_mode"] = "embedded"
        params["return_url"] = _with_query(return_url, f"session_id={CHECKOUT_SESSION_ID}")
    else:
        params["success_url"] = _with_query(
            return_url, f"success=true&session_id={CHECKOUT_SESSION_ID}"
        )
        params["cancel_url"] = _with_query(return_url, "canceled=true")
    try:
        params["customer"] = _customer_id(client, user=user, subscription=subscription)
        session = client.v1.checkout.sessions.create(params=params)  # type: ignore[arg-type]
    except stripe.StripeError as exc:
        log.error("stripe checkout failed: %s", type(exc).__name__)
        raise StripeUnavailable() from exc
    CheckoutSession.objects.create(
        id=session.id, user_id=user.id, ui_mode="embedded" if embedded else "hosted", **row
    )
    if embedded:
        return {
            "clientSecret": str(getattr(session, "client_secret", None) or ""),
            "sessionId": session.id,
        }
    return {"url": str(getattr(session, "url", None) or ""), "session_id": session.id}


def portal_create(*, user: SupabaseUser, return_url: str) -> dict[str, str]:
    """A Stripe customer-portal session for the caller's own customer."""
    client = stripe_client()
    subscription = Subscription.objects.for_user(user).first()
    if subscription is None or not subscription.stripe_customer_id:
        raise InvalidInput("No billing account found", code="no_billing_account")
    try:
        portal = client.v1.billing_portal.sessions.create(
            params={"customer": subscription.stripe_customer_id, "return_url": return_url}
        )
    except stripe.StripeError as exc:
        log.error("stripe portal failed: %s", type(exc).__name__)
        raise StripeUnavailable() from exc
    return {"url": str(portal.url)}


# ---------------------------------------------------------------- beta applications
#
# Both public routes first record the call (committed, under a per-IP lock) and refuse it with
# 429 when the IP is over its budget; the work runs in its own transaction afterwards, so a
# failed or refused application still counts.


def beta_apply(*, ip: str, data: dict[str, Any] | None, errors: dict[str, Any] | None) -> str:
    """Store a beta application (validated by the view); 409 when the email already applied."""
    ratelimit.beta_attempt(ip=ip)
    if errors is not None or data is None:
        details = errors or {"formErrors": ["Expected object"], "fieldErrors": {}}
        raise ApiError(
            "Validation failed",
            code="invalid",
            fields=details["fieldErrors"],
            legacy_error=True,
            extra={"details": details},
        )
    email = ratelimit.normalize_email(data["email"])
    with service_context():
        # unscoped: beta applications are anonymous (no user owns them); looked up by email
        existing = BetaApplication.objects.filter(email__iexact=email).first()
        if existing is not None:
            raise _already_applied(existing.status)
        try:
            with transaction.atomic():
                application = BetaApplication.objects.create(**{**data, "email": email})
        except IntegrityError:  # a parallel application with the same email won
            # unscoped: the same anonymous lookup by email
            found = BetaApplication.objects.filter(email__iexact=email).first()
            raise _already_applied(found.status if found else "pending") from None
    log.info("beta application stored")
    return str(application.pk)


def _already_applied(status: str) -> Conflict:
    return Conflict(
        "An application with this email already exists",
        code="already_applied",
        legacy_error=True,
        extra={"status": status},
    )


def beta_status(*, ip: str, email: str) -> dict[str, Any]:
    """Status and date of the application with this email, nothing else."""
    ratelimit.beta_attempt(ip=ip)
    if not email.strip():
        raise ApiError("Email parameter is required", code="email_required", legacy_error=True)
    with service_context():
        email = ratelimit.normalize_email(email)
        # unscoped: the anonymous status lookup by email (status and date only)
        found = BetaApplication.objects.filter(email__iexact=email)
        row = found.values("status", "created_at").first()
    if row is None:
        raise ApiError("No application found", code="not_found", status=404, legacy_error=True)
    return {"success": True, "status": row["status"], "created_at": row["created_at"]}


def billing_erase(*, user: SupabaseUser, profile_ids: list[Any]) -> None:
    """Account deletion: the user's checkout sessions and billing history go; beta applications
    (kept for the beta queue, no health data) lose their link to the deleted profiles. PostgreSQL
    does the same by its foreign keys; this makes it true on every database."""
    from mediqom.billing.models import PurchaseEvent

    CheckoutSession.objects.for_user(user).delete()
    PurchaseEvent.objects.for_user(user).delete()
    # unscoped: applications are not user-owned rows; only the link to the deleted profiles goes
    BetaApplication.objects.filter(profile_id__in=profile_ids).update(profile_id=None)
