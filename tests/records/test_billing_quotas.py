"""Billing reads (contract §2.8) and quotas (§5.5, §8.4): tiers, packs, subscription with usage,
consume_scan semantics, the profile limit, and consume_scan under concurrency."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from mediqom.errors import Forbidden
from mediqom.records.models import Profile, Subscription
from mediqom.records.quotas import (
    check_profile_limit,
    check_scans_available,
    consume_scan,
    require_scan,
    subscription_ensure,
)
from tests.conftest import ok

TIER_KEYS = {
    "id", "name", "profile_limit", "scan_limit", "price_monthly_eur", "price_yearly_eur",
    "stripe_product_id", "stripe_price_monthly_eur", "stripe_price_yearly_eur",
    "apple_product_id_monthly", "apple_product_id_yearly", "google_product_id_monthly",
    "google_product_id_yearly", "is_active", "sort_order", "created_at",
}  # fmt: skip
SUBSCRIPTION_KEYS = {
    "id", "profiles", "scans", "updated_at", "tier_id", "status", "source", "stripe_customer_id",
    "stripe_subscription_id", "apple_original_transaction_id", "google_purchase_token",
    "current_period_start", "current_period_end", "cancel_at_period_end", "scans_base",
    "scans_used", "scans_credits", "scans_reset_at",
    "scans_available", "scans_remaining_base", "tier", "profile_count", "can_create_profile",
}  # fmt: skip


@pytest.mark.django_db
def test_tiers_are_public_and_ordered(client_for, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):
        response = client_for(None).get("/v1/billing/tiers")
    assert response.status_code == 200
    tiers = response.json()
    assert [t["id"] for t in tiers] == ["free", "caretaker", "family"]
    assert all(set(t) == TIER_KEYS for t in tiers)
    assert [(t["profile_limit"], t["scan_limit"]) for t in tiers] == [(1, 5), (3, 50), (None, 200)]
    assert [t["price_monthly_eur"] for t in tiers] == [0, 499, 999]


@pytest.mark.django_db
def test_packs_are_public(alice, client_for, django_assert_max_num_queries):
    with django_assert_max_num_queries(9):  # with a token: auth + RLS context as well
        response = client_for(alice).get("/v1/billing/packs")
        assert response.status_code == 200, response.content
    assert response.json() == [
        {
            "id": "pack_50",
            "name": "50 scans",
            "scans": 50,
            "price_eur": 1000,
            "stripe_price_id": None,
            "apple_product_id": None,
            "google_product_id": None,
            "is_active": True,
            "created_at": response.json()[0]["created_at"],
        }
    ]


@pytest.mark.django_db
def test_the_subscription_is_created_free_on_first_use(alice, client_for):
    response = client_for(alice).get("/v1/billing/subscription")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == SUBSCRIPTION_KEYS
    assert body["id"] == str(alice.id)
    assert (body["tier_id"], body["status"], body["source"]) == ("free", "active", "manual")
    assert (body["scans_base"], body["scans_used"], body["scans_credits"]) == (5, 0, 0)
    assert (body["scans_available"], body["scans_remaining_base"]) == (5, 5)
    assert set(body["tier"]) == TIER_KEYS
    assert body["tier"]["id"] == "free"
    assert (body["profile_count"], body["can_create_profile"]) == (0, True)
    assert Subscription.objects.filter(pk=alice.id).count() == 1
    ok(client_for(alice).get("/v1/billing/subscription"))
    assert Subscription.objects.filter(pk=alice.id).count() == 1


@pytest.mark.django_db
def test_the_user_id_comes_from_the_token_only(alice, bob, client_for):
    Subscription.objects.create(id=bob.id, tier_id="family", scans_base=200)
    response = client_for(alice).get(f"/v1/billing/subscription?user_id={bob.id}&id={bob.id}")
    assert response.status_code == 200, response.content
    assert response.json()["id"] == str(alice.id)
    assert response.json()["tier_id"] == "free"


@pytest.mark.django_db
def test_consume_scan_uses_base_first_then_credits(alice):
    Subscription.objects.create(id=alice.id, scans_base=1, scans_used=0, scans_credits=1)
    first = consume_scan(user=alice)
    assert first == {
        "success": True,
        "reason": "consumed",
        "source": "base",
        "remaining_base": 0,
        "remaining_credits": 1,
        "available": 1,
    }
    assert consume_scan(user=alice)["source"] == "credits"
    last = consume_scan(user=alice)
    assert (last["success"], last["reason"], last["available"]) == (False, "no_scans", 0)
    subscription = Subscription.objects.get(pk=alice.id)
    assert (subscription.scans_used, subscription.scans_credits) == (1, 0)
    with pytest.raises(Forbidden, match="Subscription limit reached"):
        require_scan(user=alice)


@pytest.mark.django_db
@pytest.mark.parametrize(("status", "ok"), [("active", True), ("trialing", True),
                                            ("past_due", False), ("canceled", False),
                                            ("expired", False)])  # fmt: skip
def test_only_active_or_trialing_subscriptions_consume(alice, status, ok):
    Subscription.objects.create(id=alice.id, status=status, scans_base=5)
    result = consume_scan(user=alice)
    assert result["success"] is ok
    if not ok:
        assert result == {
            "success": False,
            "reason": "subscription_inactive",
            "status": status,
            "available": 0,
        }
        assert check_scans_available(user=alice)["available"] == 0
    assert Subscription.objects.get(pk=alice.id).scans_used == (1 if ok else 0)


@pytest.mark.django_db
def test_a_new_user_gets_a_free_row_and_can_scan(alice):
    assert check_scans_available(user=alice)["available"] == 5
    assert consume_scan(user=alice)["success"] is True
    assert Subscription.objects.get(pk=alice.id).tier_id == "free"


@pytest.mark.django_db
def test_the_base_allowance_resets_yearly(alice):
    Subscription.objects.create(
        id=alice.id,
        tier_id="caretaker",
        scans_base=50,
        scans_used=50,
        scans_reset_at=timezone.now() - timedelta(days=1),
    )
    assert consume_scan(user=alice)["remaining_base"] == 49
    subscription = Subscription.objects.get(pk=alice.id)
    assert subscription.scans_used == 1
    assert subscription.scans_reset_at > timezone.now() + timedelta(days=360)


@pytest.mark.django_db
def test_the_profile_limit_counts_owned_virtual_profiles(alice, bob):
    subscription_ensure(user=alice)
    assert check_profile_limit(user=alice) == {
        "can_create": True,
        "current_count": 0,
        "limit": 1,
        "tier": "Free",
        "is_unlimited": False,
    }
    Profile.objects.create(owner_id=alice.id)
    Profile.objects.create(owner_id=bob.id)
    limit = check_profile_limit(user=alice)
    assert (limit["can_create"], limit["current_count"]) == (False, 1)
    Subscription.objects.filter(pk=alice.id).update(tier_id="family")
    assert check_profile_limit(user=alice)["is_unlimited"] is True
    assert check_profile_limit(user=alice)["can_create"] is True


def run_in_parallel(action, count: int = 2) -> tuple[list[object], list[BaseException]]:
    """Run `action` in `count` threads released together; each closes its connection."""
    barrier = threading.Barrier(count)
    results: list[object] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(action())
        except BaseException as exc:  # noqa: BLE001 - returned to the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results, errors


@pytest.mark.django_db(transaction=True)
def test_two_parallel_consumes_with_one_scan_left_succeed_once(alice):
    Subscription.objects.create(id=alice.id, scans_base=1, scans_used=0, scans_credits=0)
    results, errors = run_in_parallel(lambda: consume_scan(user=alice)["success"])
    assert errors == []
    assert sorted(results) == [False, True]
    assert Subscription.objects.get(pk=alice.id).scans_used == 1


@pytest.mark.django_db(transaction=True)
def test_parallel_first_uses_create_one_subscription(alice):
    results, errors = run_in_parallel(lambda: consume_scan(user=alice)["success"])
    assert errors == []
    assert results == [True, True]
    subscription = Subscription.objects.get(pk=alice.id)
    assert (subscription.scans_base, subscription.scans_used) == (5, 2)


@pytest.mark.django_db(transaction=True)
def test_parallel_family_profiles_respect_the_limit(alice):
    from mediqom.audit.services import AuditContext
    from mediqom.records.services import profile_create

    def create() -> object:
        return profile_create(
            user=alice,
            audit=AuditContext(actor_id=alice.id),
            full_name="Kid",
            public_key="P",
            private_key="K",
            key_hash="h",
        )

    # The subscription row exists first: only its row lock serialises the limit check (an
    # insert of a missing row would serialise the two threads by itself).
    subscription_ensure(user=alice)
    results, errors = run_in_parallel(create)
    assert len(results) == 1
    assert [type(error) for error in errors] == [Forbidden]
    assert Profile.objects.filter(owner_id=alice.id, auth_id__isnull=True).count() == 1


@pytest.mark.django_db(transaction=True)
def test_parallel_root_documents_end_up_as_one(alice):
    from mediqom.audit.services import AuditContext
    from mediqom.errors import InvalidInput
    from mediqom.records.models import Document
    from mediqom.records.services import document_add

    def create() -> object:
        return document_add(
            user=alice,
            audit=AuditContext(actor_id=alice.id),
            profile_id=alice.id,
            doc_type="health",
            metadata="M",
            content="C",
            attachments=[],
            keys=[{"user_id": alice.id, "key": "K"}],
        )

    results, errors = run_in_parallel(create)
    assert len(results) == 1
    assert [type(error) for error in errors] == [InvalidInput]
    assert Document.objects.filter(profile_id=alice.id, type="health").count() == 1
