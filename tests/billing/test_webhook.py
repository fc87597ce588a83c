"""The Stripe webhook: signed deliveries only, each event applied once and in order, to the
subscription and purchase tables in one transaction (contract §2.8)."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any

import pytest
from django.db import connection

from mediqom.billing.models import PurchaseEvent, StripeEvent
from mediqom.records.models import Subscription
from mediqom.records.quotas import subscription_ensure
from tests.billing.conftest import (
    deliver,
    event,
    pack_checkout,
    reseed_catalogue,
    stripe_subscription,
    subscription_checkout,
)
from tests.billing.stripe_stub import sign

pytestmark = pytest.mark.django_db


def state(user_id: Any) -> dict[str, Any]:
    """Everything the webhook may change for one user."""
    subscription = Subscription.objects.filter(pk=user_id).values(
        "tier_id", "status", "source", "stripe_customer_id", "stripe_subscription_id",
        "scans_base", "scans_used", "scans_credits", "profiles", "cancel_at_period_end",
        "current_period_start", "current_period_end",
    ).first()  # fmt: skip
    purchases = sorted(
        PurchaseEvent.objects.filter(user_id=user_id).values_list(
            "event_type", "tier_id", "scans_added", "amount", "currency", "external_id"
        )
    )
    return {"subscription": subscription, "purchases": purchases}


def outcomes() -> list[tuple[str, str]]:
    return list(StripeEvent.objects.order_by("received_at").values_list("type", "outcome"))


@pytest.fixture
def stripe_on(stripe_stub: Any) -> Any:
    return stripe_stub


def test_a_valid_pack_payment_adds_the_credits_once(stripe_on, alice, anonymous):
    subscription_ensure(user=alice)
    body = event("checkout.session.completed", pack_checkout(alice.id))
    response = deliver(anonymous, body)
    assert response.status_code == 200, response.content
    assert response.json() == {
        "received": True,
        "event_id": body["id"],
        "event_type": "checkout.session.completed",
        "status": "processed",
        "outcome": "processed",
    }
    after = state(alice.id)
    assert after["subscription"]["scans_credits"] == 50
    assert after["subscription"]["tier_id"] == "free"
    assert after["purchases"] == [("pack_purchased", None, 50, 1000, "EUR", "cs_test_pack")]
    assert PurchaseEvent.objects.get().idempotency_key == body["id"]
    assert outcomes() == [("checkout.session.completed", "processed")]


def test_the_webhook_needs_no_supabase_token_and_ignores_a_bad_one(stripe_on, alice, anonymous):
    anonymous.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    response = deliver(anonymous, event("checkout.session.completed", pack_checkout(alice.id)))
    assert response.status_code == 200
    assert state(alice.id)["subscription"]["scans_credits"] == 50


def test_a_replayed_event_changes_nothing_twice(stripe_on, alice, anonymous):
    body = event("checkout.session.completed", pack_checkout(alice.id))
    assert deliver(anonymous, body).json()["outcome"] == "processed"
    once = state(alice.id)
    replay = deliver(anonymous, body)  # same event id, freshly signed (Stripe's retry)
    assert replay.status_code == 200
    assert replay.json()["outcome"] == "duplicate"
    assert state(alice.id) == once
    assert once["subscription"]["scans_credits"] == 50
    assert StripeEvent.objects.count() == 1


def test_a_second_event_for_the_same_paid_session_credits_nothing(stripe_on, alice, anonymous):
    session = pack_checkout(alice.id)
    deliver(anonymous, event("checkout.session.completed", session))
    again = deliver(anonymous, event("checkout.session.async_payment_succeeded", session))
    assert again.json()["outcome"] == "ignored"
    assert state(alice.id)["subscription"]["scans_credits"] == 50
    assert len(state(alice.id)["purchases"]) == 1


def test_an_unpaid_session_credits_nothing_until_the_payment_succeeds(stripe_on, alice, anonymous):
    pending = deliver(
        anonymous, event("checkout.session.completed", pack_checkout(alice.id, paid=False))
    )
    assert (pending.status_code, pending.json()["outcome"]) == (200, "ignored")
    assert Subscription.objects.filter(pk=alice.id, scans_credits__gt=0).count() == 0
    paid = deliver(
        anonymous, event("checkout.session.async_payment_succeeded", pack_checkout(alice.id))
    )
    assert paid.json()["outcome"] == "processed"
    assert state(alice.id)["subscription"]["scans_credits"] == 50


@pytest.mark.parametrize(
    ("name", "mutate"),
    [
        ("tampered body", lambda payload, header: (payload.replace(b'"50"', b'"5000"'), header)),
        ("other secret", lambda payload, header: (payload, sign(payload, secret="whsec_other"))),
        (
            "expired timestamp",
            lambda payload, header: (payload, sign(payload, timestamp=int(time.time()) - 301)),
        ),
        ("garbage header", lambda payload, header: (payload, "t=1,v1=deadbeef")),
    ],
)
def test_a_bad_signature_is_a_400_and_writes_nothing(stripe_on, alice, anonymous, name, mutate):
    subscription_ensure(user=alice)
    before = state(alice.id)
    payload = json.dumps(event("checkout.session.completed", pack_checkout(alice.id))).encode()
    body, header = mutate(payload, sign(payload))
    response = anonymous.post(
        "/v1/billing/stripe/webhook",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=header,
    )
    assert response.status_code == 400, name
    assert response.json() == {
        "message": "Invalid signature",
        "code": "invalid_signature",
        "fields": {},
        "success": False,
        "error": "Invalid signature",
    }
    assert state(alice.id) == before
    assert StripeEvent.objects.count() == 0


def test_the_tolerance_comes_from_settings(stripe_on, alice, anonymous, settings):
    settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS = 600
    body = event("checkout.session.completed", pack_checkout(alice.id))
    response = deliver(anonymous, body, timestamp=int(time.time()) - 400)
    assert response.status_code == 200
    assert state(alice.id)["subscription"]["scans_credits"] == 50


def test_a_missing_signature_is_a_400(stripe_on, anonymous):
    response = anonymous.post(
        "/v1/billing/stripe/webhook", data=b"{}", content_type="application/json"
    )
    assert (response.status_code, response.json()["code"]) == (400, "missing_signature")
    assert StripeEvent.objects.count() == 0


def test_a_signed_body_that_is_not_an_event_is_a_400(stripe_on, anonymous):
    for payload in (b"not json", b'{"id": "evt_1"}', b"[1]"):
        response = deliver(anonymous, payload)
        assert (response.status_code, response.json()["code"]) == (400, "invalid_payload")
    assert StripeEvent.objects.count() == 0


def test_without_a_webhook_secret_it_is_a_503(settings, anonymous):
    settings.STRIPE_WEBHOOK_SECRET = None
    response = deliver(anonymous, event("checkout.session.completed", {"id": "cs_x"}))
    assert response.status_code == 503
    assert response.json()["code"] == "stripe_not_configured"
    assert StripeEvent.objects.count() == 0


def test_unknown_event_types_are_acknowledged_and_ignored(stripe_on, alice, anonymous):
    subscription_ensure(user=alice)
    before = state(alice.id)
    response = deliver(
        anonymous, event("charge.refund.updated", {"id": "re_1", "object": "refund"})
    )
    assert response.status_code == 200
    assert response.json()["status"] == "processed"
    assert outcomes() == [("charge.refund.updated", "ignored")]
    assert state(alice.id) == before


def test_an_event_for_an_unknown_user_is_recorded_as_an_error_and_changes_nothing(
    stripe_on, anonymous
):
    import uuid

    stranger = uuid.uuid4()
    response = deliver(anonymous, event("checkout.session.completed", pack_checkout(stranger)))
    assert response.status_code == 200
    assert response.json()["status"] == "error"
    assert not Subscription.objects.filter(pk=stranger).exists()
    assert not PurchaseEvent.objects.exists()


def test_a_subscription_lifecycle_moves_the_tier_and_back_to_free(stripe_on, alice, anonymous):
    Subscription.objects.create(id=alice.id, scans_base=5, scans_used=3, scans_credits=7)
    t = int(time.time())
    deliver(
        anonymous, event("checkout.session.completed", subscription_checkout(alice.id), created=t)
    )
    sub = state(alice.id)["subscription"]
    assert (sub["tier_id"], sub["status"], sub["source"]) == ("caretaker", "active", "stripe")
    assert (sub["scans_base"], sub["scans_used"], sub["scans_credits"]) == (50, 0, 7)
    assert (sub["stripe_customer_id"], sub["stripe_subscription_id"]) == (
        "cus_test_alice",
        "sub_test_1",
    )
    assert sub["profiles"] == 3

    upgrade = stripe_subscription(alice.id, price="price_family_yearly", cancel_at_period_end=True)
    deliver(anonymous, event("customer.subscription.updated", upgrade, created=t + 10))
    sub = state(alice.id)["subscription"]
    assert (sub["tier_id"], sub["scans_base"], sub["profiles"]) == ("family", 200, 999)
    assert sub["cancel_at_period_end"] is True
    assert sub["current_period_end"].timestamp() == 1769904000

    deliver(
        anonymous,
        event(
            "customer.subscription.deleted",
            stripe_subscription(alice.id, status="canceled"),
            created=t + 20,
        ),
    )
    after = state(alice.id)
    sub = after["subscription"]
    assert (sub["tier_id"], sub["status"], sub["scans_base"], sub["profiles"]) == (
        "free",
        "active",
        5,
        1,
    )
    assert sub["stripe_subscription_id"] is None
    assert sub["scans_credits"] == 7  # purchased credits never expire
    assert [p[0] for p in after["purchases"]] == ["subscription_canceled", "subscription_created"]


def test_an_older_subscription_event_never_overwrites_a_newer_state(stripe_on, alice, anonymous):
    t = int(time.time())
    newer = event(
        "customer.subscription.updated",
        stripe_subscription(alice.id, price="price_family_monthly", status="past_due"),
        created=t + 60,
    )
    older = event(
        "customer.subscription.created",
        stripe_subscription(alice.id, price="price_caretaker_monthly"),
        created=t,
    )
    assert deliver(anonymous, newer).json()["outcome"] == "processed"
    applied = state(alice.id)
    assert (applied["subscription"]["tier_id"], applied["subscription"]["status"]) == (
        "family",
        "past_due",
    )
    late = deliver(anonymous, older)
    assert (late.status_code, late.json()["outcome"]) == (200, "stale")
    assert state(alice.id) == applied
    assert outcomes() == [
        ("customer.subscription.updated", "processed"),
        ("customer.subscription.created", "stale"),
    ]


def test_nothing_revives_a_deleted_subscription(stripe_on, alice, anonymous):
    t = int(time.time())
    deliver(
        anonymous, event("customer.subscription.created", stripe_subscription(alice.id), created=t)
    )
    deliver(
        anonymous,
        event(
            "customer.subscription.deleted",
            stripe_subscription(alice.id, status="canceled"),
            created=t + 30,
        ),
    )
    ended = state(alice.id)
    assert ended["subscription"]["tier_id"] == "free"
    # an update from before the deletion, delivered after it
    late = deliver(
        anonymous,
        event(
            "customer.subscription.updated",
            stripe_subscription(alice.id, price="price_family_monthly"),
            created=t + 20,
        ),
    )
    assert late.json()["outcome"] == "stale"
    assert state(alice.id) == ended


def test_the_deletion_of_an_old_subscription_leaves_the_current_one(stripe_on, alice, anonymous):
    t = int(time.time())
    deliver(
        anonymous,
        event(
            "customer.subscription.created",
            stripe_subscription(alice.id, subscription="sub_new", price="price_family_monthly"),
            created=t,
        ),
    )
    old_gone = deliver(
        anonymous,
        event(
            "customer.subscription.deleted",
            stripe_subscription(alice.id, subscription="sub_old", status="canceled"),
            created=t + 5,
        ),
    )
    assert old_gone.json()["outcome"] == "ignored"
    sub = state(alice.id)["subscription"]
    assert (sub["tier_id"], sub["stripe_subscription_id"]) == ("family", "sub_new")


def test_an_incomplete_subscription_grants_nothing(stripe_on, alice, anonymous):
    subscription_ensure(user=alice)
    before = state(alice.id)
    response = deliver(
        anonymous,
        event(
            "customer.subscription.created",
            stripe_subscription(alice.id, status="incomplete", price="price_family_monthly"),
        ),
    )
    assert response.json()["outcome"] == "ignored"
    assert state(alice.id) == before


def test_events_without_metadata_find_the_user_by_stripe_ids(stripe_on, alice, anonymous):
    Subscription.objects.create(id=alice.id, stripe_customer_id="cus_test_alice")
    response = deliver(
        anonymous,
        event(
            "customer.subscription.updated",
            stripe_subscription(None, price="price_caretaker_yearly"),
        ),
    )
    assert response.json()["outcome"] == "processed"
    assert state(alice.id)["subscription"]["tier_id"] == "caretaker"


def test_an_event_naming_another_users_customer_is_refused(stripe_on, alice, bob, anonymous):
    Subscription.objects.create(id=bob.id, stripe_customer_id="cus_test_bob")
    body = stripe_subscription(bob.id, customer="cus_test_mallory", price="price_family_monthly")
    response = deliver(anonymous, event("customer.subscription.updated", body))
    assert response.json()["status"] == "error"
    assert state(bob.id)["subscription"]["tier_id"] == "free"


def test_a_failed_renewal_payment_marks_the_subscription_past_due(stripe_on, alice, anonymous):
    deliver(
        anonymous,
        event(
            "customer.subscription.created",
            stripe_subscription(alice.id),
            created=int(time.time()) - 100,
        ),
    )
    invoice = {
        "id": "in_1",
        "object": "invoice",
        "customer": "cus_test_alice",
        "subscription": "sub_test_1",
        "amount_due": 499,
        "currency": "eur",
        "attempt_count": 1,
    }
    assert (
        deliver(anonymous, event("invoice.payment_failed", invoice)).json()["outcome"]
        == "processed"
    )
    after = state(alice.id)
    assert after["subscription"]["status"] == "past_due"
    assert after["purchases"] == [("payment_failed", None, None, 499, "EUR", "in_1")]
    renewal = {**invoice, "id": "in_2", "billing_reason": "subscription_cycle", "amount_paid": 499}
    assert deliver(anonymous, event("invoice.paid", renewal)).json()["outcome"] == "processed"
    assert ("subscription_renewed", None, None, 499, "EUR", "in_2") in state(alice.id)["purchases"]


def test_invoices_of_the_current_api_version_name_the_subscription_under_parent(
    stripe_on, alice, anonymous
):
    t = int(time.time())
    deliver(
        anonymous,
        event("customer.subscription.created", stripe_subscription(alice.id), created=t - 100),
    )
    invoice = {
        "id": "in_3",
        "object": "invoice",
        "customer": "cus_test_alice",
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": "sub_test_1", "metadata": {}},
        },
        "amount_due": 499,
        "currency": "eur",
        "attempt_count": 2,
    }
    assert (
        deliver(anonymous, event("invoice.payment_failed", invoice, created=t)).json()["outcome"]
        == "processed"
    )
    assert state(alice.id)["subscription"]["status"] == "past_due"
    assert StripeEvent.objects.get(type="invoice.payment_failed").object_id == "sub_test_1"


def test_a_plan_change_through_checkout_ends_the_replaced_subscription(stripe_on, alice, anonymous):
    t = int(time.time())
    stripe_on.subscriptions["sub_old"] = {
        "id": "sub_old",
        "object": "subscription",
        "status": "active",
    }
    deliver(
        anonymous,
        event(
            "customer.subscription.created",
            stripe_subscription(alice.id, subscription="sub_old"),
            created=t,
        ),
    )
    change = deliver(
        anonymous,
        event(
            "checkout.session.completed",
            subscription_checkout(alice.id, tier="family", subscription="sub_new"),
            created=t + 10,
        ),
    )
    assert change.json()["outcome"] == "processed"
    [cancel] = stripe_on.calls("DELETE", "/v1/subscriptions/sub_old")
    assert cancel.params == {"prorate": "true"}
    assert (
        StripeEvent.objects.get(pk=change.json()["event_id"]).detail
        == "replaced_subscription_canceled"
    )
    sub = state(alice.id)["subscription"]
    assert (sub["tier_id"], sub["stripe_subscription_id"], sub["scans_base"]) == (
        "family",
        "sub_new",
        200,
    )
    # Stripe then reports the old one deleted: the user keeps the new plan
    gone = deliver(
        anonymous,
        event(
            "customer.subscription.deleted",
            stripe_subscription(alice.id, subscription="sub_old", status="canceled"),
            created=t + 11,
        ),
    )
    assert gone.json()["outcome"] == "ignored"
    assert state(alice.id)["subscription"]["tier_id"] == "family"


def test_a_stripe_failure_while_ending_the_old_plan_rolls_everything_back(
    stripe_on, alice, anonymous
):
    t = int(time.time())
    stripe_on.subscriptions["sub_old"] = {
        "id": "sub_old",
        "object": "subscription",
        "status": "active",
    }
    deliver(
        anonymous,
        event(
            "customer.subscription.created",
            stripe_subscription(alice.id, subscription="sub_old"),
            created=t,
        ),
    )
    before, recorded = state(alice.id), StripeEvent.objects.count()
    body = event(
        "checkout.session.completed",
        subscription_checkout(alice.id, tier="family", subscription="sub_new"),
        created=t + 10,
    )
    stripe_on.fail_with = (500, {"error": {"type": "api_error", "message": "down"}})
    failed = deliver(anonymous, body)
    assert (failed.status_code, failed.json()["code"]) == (502, "stripe_error")
    assert state(alice.id) == before
    assert StripeEvent.objects.count() == recorded  # not recorded: Stripe's retry runs it again
    stripe_on.fail_with = None
    stripe_on.subscriptions["sub_old"]["status"] = "canceled"  # the first attempt got through
    retried = deliver(anonymous, body)
    assert retried.json()["outcome"] == "processed"
    assert state(alice.id)["subscription"]["tier_id"] == "family"


# ---------------------------------------------------------------- real concurrency


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_event_apply_once(stripe_on, live_server):
    """Six deliveries of the same event, released together against a real HTTP server (each
    request on its own thread and database connection): the credits are added once."""
    from tests.conftest import persona

    reseed_catalogue()
    alice = persona("alice@example.test")
    subscription_ensure(user=alice)
    payload = json.dumps(event("checkout.session.completed", pack_checkout(alice.id))).encode()
    count = 6
    barrier = threading.Barrier(count)
    answers: list[tuple[int, str]] = []
    errors: list[BaseException] = []

    def post() -> None:
        try:
            request = urllib.request.Request(  # noqa: S310 - our local test server
                f"{live_server.url}/v1/billing/stripe/webhook",
                data=payload,
                method="POST",
                headers={"Content-Type": "application/json", "Stripe-Signature": sign(payload)},
            )
            barrier.wait(timeout=10)
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - local
                answers.append((response.status, json.loads(response.read())["outcome"]))
        except BaseException as exc:  # noqa: BLE001 - returned to the test
            errors.append(exc)

    threads = [threading.Thread(target=post) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    connection.close()
    assert errors == []
    assert sorted(answers) == [(200, "duplicate")] * (count - 1) + [(200, "processed")]
    subscription = Subscription.objects.get(pk=alice.id)
    assert subscription.scans_credits == 50
    assert PurchaseEvent.objects.filter(user_id=alice.id).count() == 1
    assert StripeEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_out_of_order_subscription_events_end_in_the_newest_state(
    stripe_on, live_server
):
    """An older and a newer event of one subscription delivered at the same time: whichever
    commits first, the newest state wins."""
    from tests.conftest import persona

    reseed_catalogue()
    alice = persona("alice@example.test")
    t = int(time.time())
    bodies = [
        event(
            "customer.subscription.updated",
            stripe_subscription(alice.id, price="price_family_monthly"),
            created=t + 5,
        ),
        event(
            "customer.subscription.created",
            stripe_subscription(alice.id, price="price_caretaker_monthly"),
            created=t,
        ),
    ]
    barrier = threading.Barrier(len(bodies))
    errors: list[BaseException] = []

    def post(body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        try:
            request = urllib.request.Request(  # noqa: S310 - our local test server
                f"{live_server.url}/v1/billing/stripe/webhook",
                data=payload,
                method="POST",
                headers={"Content-Type": "application/json", "Stripe-Signature": sign(payload)},
            )
            barrier.wait(timeout=10)
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - local
                assert response.status == 200
        except BaseException as exc:  # noqa: BLE001 - returned to the test
            errors.append(exc)

    threads = [threading.Thread(target=post, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    connection.close()
    assert errors == []
    assert Subscription.objects.get(pk=alice.id).tier_id == "family"
