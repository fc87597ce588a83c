"""Real races through the whole request path: parallel requests in threads, each with its own
database connection (so PostgreSQL really sees concurrent transactions, RLS on), released
together by a barrier. Each test fails when the lock it is about is removed."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from crypto_app.primitives import generate_recovery_key, recovery_encrypt, recovery_key_hash
from mediqom.records.models import PrivateKey, Profile, RecoveryAttempt, Subscription
from tests.conftest import token_for

pytestmark = pytest.mark.django_db(transaction=True)


def in_parallel(request: Callable[[], Any], count: int) -> list[Any]:
    """Run `request` in `count` threads at once; every thread closes its own connection."""
    barrier = threading.Barrier(count)
    responses: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            barrier.wait(timeout=30)
            response = request()
            with lock:
                responses.append(response)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    assert errors == []
    return responses


FAMILY_PROFILE = {
    "fullName": "Kid",
    "language": "en",
    "publicKey": "-----BEGIN PUBLIC KEY-----\nS0lE\n-----END PUBLIC KEY-----",
    "privateKey": "RU5DUllQVEVE" * 20,
    "key_hash": "$2a$10$" + "x" * 53,
}


def test_two_parallel_family_profiles_on_an_existing_subscription_make_one(alice):
    """The subscription row exists, so only its row lock (select_for_update) serialises the
    limit check: without it both requests count 0 profiles and both create one."""
    Subscription.objects.create(
        id=alice.id, tier_id="free", status="active", scans_base=5, profiles=1
    )
    token = token_for(alice)

    def create() -> Any:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client.post("/v1/med/profiles", FAMILY_PROFILE, format="json")

    responses = in_parallel(create, 2)
    assert sorted(r.status_code for r in responses) == [200, 403], [r.content for r in responses]
    refused = next(r for r in responses if r.status_code == 403)
    assert refused.json()["code"] == "profile_limit_reached"
    assert Profile.objects.filter(owner_id=alice.id, auth_id__isnull=True).count() == 1


@pytest.fixture
def alice_recoverable(alice: Any) -> Any:
    key = generate_recovery_key()
    PrivateKey.objects.create(
        profile_id=alice.id,
        private_key="RU5DUllQVEVE" * 20,
        key_hash="$2a$10$" + "x" * 53,
        recovery_encrypted_key=recovery_encrypt(key, b"-----BEGIN PRIVATE KEY-----"),
        recovery_key_hash=recovery_key_hash(key),
        recovery_created_at=timezone.now(),
    )
    return alice


def test_ten_parallel_wrong_recovery_attempts_are_five_401_and_five_429(alice_recoverable):
    """Count-then-insert runs under a per-email/per-IP advisory lock: without it parallel
    attempts all count fewer than five failures and more than five get to guess."""

    def attempt() -> Any:
        return APIClient().post(
            "/v1/recover/verify",
            {"email": "alice@example.test", "recoveryKey": generate_recovery_key()},
            format="json",
            REMOTE_ADDR="198.51.100.77",
        )

    responses = in_parallel(attempt, 10)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [401] * 5 + [429] * 5, statuses
    assert all(r.json()["code"] == "rate_limited" for r in responses if r.status_code == 429)
    rows = list(RecoveryAttempt.objects.values_list("success", "metadata"))
    assert len(rows) == 10
    outcomes = sorted(metadata["outcome"] for _, metadata in rows)
    assert outcomes == ["invalid_recovery"] * 5 + ["rate_limited"] * 5
    assert not any(success for success, _ in rows)
