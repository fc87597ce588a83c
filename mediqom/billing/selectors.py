"""Billing reads: the status of a caller's own checkout session (contract §2.8)."""

from __future__ import annotations

from typing import Any

import stripe

from mediqom.auth.tokens import SupabaseUser
from mediqom.billing.models import CheckoutSession
from mediqom.billing.stripe_client import StripeUnavailable, stripe_client
from mediqom.errors import NotFound
from mediqom.logging import get_logger

log = get_logger("api")


def checkout_session_status(*, user: SupabaseUser, session_id: str) -> dict[str, Any]:
    """Status of one of the caller's checkout sessions (anyone else's: the 404 of a missing one)."""
    client = stripe_client()
    if not CheckoutSession.objects.for_user(user).filter(pk=session_id).exists():
        raise NotFound()
    try:
        session = client.v1.checkout.sessions.retrieve(session_id)
    except stripe.InvalidRequestError as exc:
        if exc.code == "resource_missing":
            raise NotFound() from exc
        log.error("stripe session status failed: %s", type(exc).__name__)
        raise StripeUnavailable() from exc
    except stripe.StripeError as exc:
        log.error("stripe session status failed: %s", type(exc).__name__)
        raise StripeUnavailable() from exc
    details = getattr(session, "customer_details", None)
    return {
        "status": getattr(session, "status", None),
        "paymentStatus": getattr(session, "payment_status", None),
        "customerEmail": getattr(details, "email", None) if details else None,
    }
