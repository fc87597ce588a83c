"""Billing test helpers: the Stripe stub fixture, Stripe-shaped webhook events, signed posts."""

from __future__ import annotations

import importlib
import json
import time
import uuid
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.billing.stripe_stub import StripeStub, sign, stripe_stub

__all__ = ["StripeStub", "stripe_stub"]


def reseed_catalogue() -> None:
    """Put the seeded tiers and pack back (a transactional test's flush removes them)."""
    seed = importlib.import_module("mediqom.records.migrations.0003_seed_catalogue")
    from django.apps import apps

    seed.seed(apps, None)


_counter = iter(range(1, 10**9))


def event(
    event_type: str, obj: dict[str, Any], *, created: int | None = None, **extra: Any
) -> dict[str, Any]:
    """A Stripe event envelope around `obj`."""
    return {
        "id": f"evt_test_{next(_counter):06d}_{uuid.uuid4().hex[:8]}",
        "object": "event",
        "api_version": "2025-01-27.acacia",
        "created": int(time.time()) if created is None else created,
        "livemode": False,
        "pending_webhooks": 1,
        "type": event_type,
        "data": {"object": obj},
        **extra,
    }


def pack_checkout(
    user_id: uuid.UUID, *, session_id: str = "cs_test_pack", paid: bool = True
) -> dict[str, Any]:
    return {
        "id": session_id,
        "object": "checkout.session",
        "mode": "payment",
        "customer": "cus_test_alice",
        "payment_status": "paid" if paid else "unpaid",
        "status": "complete",
        "amount_total": 1000,
        "currency": "eur",
        "metadata": {"user_id": str(user_id), "pack_id": "pack_50", "scans": "50"},
    }


def subscription_checkout(
    user_id: uuid.UUID, *, tier: str = "caretaker", subscription: str = "sub_test_1"
) -> dict[str, Any]:
    return {
        "id": f"cs_test_sub_{subscription}",
        "object": "checkout.session",
        "mode": "subscription",
        "customer": "cus_test_alice",
        "subscription": subscription,
        "payment_status": "paid",
        "status": "complete",
        "amount_total": 499,
        "currency": "eur",
        "metadata": {"user_id": str(user_id), "tier_id": tier, "billing_cycle": "monthly"},
    }


def stripe_subscription(
    user_id: uuid.UUID | None,
    *,
    status: str = "active",
    price: str = "price_caretaker_monthly",
    subscription: str = "sub_test_1",
    customer: str = "cus_test_alice",
    period: tuple[int, int] = (1767225600, 1769904000),
    cancel_at_period_end: bool = False,
) -> dict[str, Any]:
    return {
        "id": subscription,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "cancel_at_period_end": cancel_at_period_end,
        "metadata": {"user_id": str(user_id)} if user_id else {},
        "items": {
            "object": "list",
            "data": [
                {
                    "id": "si_test_1",
                    "object": "subscription_item",
                    "price": {"id": price, "object": "price"},
                    "current_period_start": period[0],
                    "current_period_end": period[1],
                }
            ],
        },
    }


def deliver(client: APIClient, body: dict[str, Any] | bytes, **sign_kwargs: Any) -> Any:
    """POST a signed delivery to the webhook, as Stripe does."""
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        "/v1/billing/stripe/webhook",
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(payload, **sign_kwargs),
    )


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()
