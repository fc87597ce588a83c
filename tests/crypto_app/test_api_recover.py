"""POST /v1/recover/verify|update|update-recovery (contract §2.4, fixed per §10 item 2).

Unauthenticated; a stored hash is required; unknown email, missing key data and a wrong key
answer alike; 5 failed attempts per email and per IP in 15 minutes, then 429 + Retry-After;
every attempt leaves one `recovery_attempts` row, also when its request fails.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from crypto_app.primitives import (
    generate_recovery_key,
    normalize_recovery_key,
    recovery_decrypt,
    recovery_encrypt,
    recovery_key_hash,
)
from mediqom.audit.models import AuditEvent
from mediqom.records.models import PrivateKey, Profile, RecoveryAttempt

pytestmark = pytest.mark.django_db

VERIFY = "/v1/recover/verify"
UPDATE = "/v1/recover/update"
UPDATE_RECOVERY = "/v1/recover/update-recovery"
EMAIL = "alice@example.test"
PEM = b"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
PUBLIC = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n"
    "-----END PUBLIC KEY-----"
)
OLD_PRIVATE = "b2xkLXByaXZhdGUta2V5LWVudmVsb3Bl" * 30
NEW_PRIVATE = "bmV3LXByaXZhdGUta2V5LWVudmVsb3Bl" * 30
OLD_HASH = "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
NEW_HASH = "$2a$10$CwTycUXWue0Thq9StjUM0uJ8.Dq0wQdH8S1yM7bx2hE/3sYxXg1yO"
CREDENTIAL_ID = "Y3JlZGVudGlhbC1pZC1mcm9tLXdlYmF1dGhu"
PRF_SALT = "c2FsdHNhbHRzYWx0c2FsdHNhbHRzYWx0c2FsdHNhbHQ="
INVALID = {"message": "Invalid email or recovery key", "code": "invalid_recovery", "fields": {}}


@pytest.fixture
def recovery_key(alice: Any) -> str:
    """Alice's recovery key; her key row holds its ciphertext and hash."""
    key = generate_recovery_key()
    Profile.objects.filter(pk=alice.id).update(public_key=PUBLIC)
    PrivateKey.objects.create(
        profile_id=alice.id,
        private_key=OLD_PRIVATE,
        key_hash=OLD_HASH,
        key_pass="convenience passphrase",
        key_derivation_method="passphrase",
        recovery_encrypted_key=recovery_encrypt(key, PEM),
        recovery_key_hash=recovery_key_hash(key),
        recovery_created_at=timezone.now() - timedelta(days=30),
    )
    return key


def post(url: str, payload: dict[str, Any], ip: str = "198.51.100.7", **headers: Any) -> Any:
    from rest_framework.test import APIClient

    return APIClient().post(url, payload, format="json", REMOTE_ADDR=ip, **headers)


def snapshot(user: Any) -> dict[str, Any]:
    return dict(PrivateKey.objects.filter(pk=user.id).values().get())


def new_credentials(**overrides: Any) -> dict[str, Any]:
    credentials = {
        "privateKey": NEW_PRIVATE,
        "key_hash": NEW_HASH,
        "key_derivation_method": "passphrase",
    }
    credentials.update(overrides)
    return credentials


# --------------------------------------------------------------------------- verify


def test_verify_returns_the_recovery_ciphertext_and_public_key(alice, recovery_key):
    response = post(VERIFY, {"email": EMAIL, "recoveryKey": recovery_key})
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"recovery_encrypted_key", "public_key"}
    assert body["public_key"] == PUBLIC
    assert recovery_decrypt(recovery_key, body["recovery_encrypted_key"]) == PEM


def test_verify_records_the_attempt_and_audits_the_read(alice, recovery_key):
    post(VERIFY, {"email": EMAIL, "recoveryKey": recovery_key}, ip="203.0.113.9")
    attempt = RecoveryAttempt.objects.get()
    assert attempt.user_id == alice.id
    assert attempt.attempt_type == "recovery_verify"
    assert attempt.success is True
    assert attempt.metadata["endpoint"] == "verify"
    assert attempt.metadata["ip"] == "203.0.113.9"
    assert len(attempt.metadata["email_sha256"]) == 64
    audit = AuditEvent.objects.get(record_type="private_key")
    assert (audit.action, audit.outcome, audit.profile_id) == ("read", "success", alice.id)
    assert audit.actor_id is None  # anonymous caller
    assert audit.ip == "203.0.113.9"


def test_verify_normalises_the_email_and_the_key(alice, recovery_key):
    typed_key = normalize_recovery_key(recovery_key).lower()
    response = post(VERIFY, {"email": "  Alice@Example.TEST ", "recoveryKey": typed_key})
    assert response.status_code == 200
    # Both spellings count against the same email.
    digests = set(RecoveryAttempt.objects.values_list("metadata__email_sha256", flat=True))
    post(VERIFY, {"email": EMAIL, "recoveryKey": recovery_key})
    assert set(RecoveryAttempt.objects.values_list("metadata__email_sha256", flat=True)) == digests


def test_verify_does_not_act_as_the_token_holder(alice, bob, recovery_key, client_for):
    """A token, if sent, is ignored: the lookup is not scoped to (Bob's) RLS identity."""
    from tests.conftest import token_for

    response = post(
        VERIFY,
        {"email": EMAIL, "recoveryKey": recovery_key},
        HTTP_AUTHORIZATION=f"Bearer {token_for(bob)}",
    )
    assert response.status_code == 200


def test_a_wrong_key_an_unknown_email_and_missing_key_data_answer_alike(alice, recovery_key):
    carol_without_keys = Profile.objects.create(
        email="carol@example.test", auth_id=Profile._meta.pk.default(), owner_id=None
    )
    answers = [
        post(VERIFY, {"email": EMAIL, "recoveryKey": generate_recovery_key()}),
        post(VERIFY, {"email": "nobody@example.test", "recoveryKey": recovery_key}),
        post(VERIFY, {"email": carol_without_keys.email, "recoveryKey": recovery_key}),
    ]
    for response in answers:
        assert response.status_code == 401
        assert response.json() == INVALID
        assert "WWW-Authenticate" not in response
    rows = RecoveryAttempt.objects.order_by("created_at")
    assert [r.user_id for r in rows] == [alice.id, None, None]
    assert all(not r.success for r in rows)
    assert [r.metadata["outcome"] for r in rows] == ["invalid_recovery"] * 3


def test_virtual_profiles_are_not_recoverable_by_email(alice, recovery_key):
    child = Profile.objects.create(email="kid@example.test", owner_id=alice.id)
    key = generate_recovery_key()
    PrivateKey.objects.create(
        profile=child,
        private_key=OLD_PRIVATE,
        recovery_encrypted_key=recovery_encrypt(key, PEM),
        recovery_key_hash=recovery_key_hash(key),
    )
    response = post(VERIFY, {"email": "kid@example.test", "recoveryKey": key})
    assert response.json() == INVALID


@pytest.mark.parametrize(
    ("url", "extra"),
    [
        (VERIFY, {}),
        (UPDATE, {"newCredentials": new_credentials()}),
        (UPDATE_RECOVERY, {"newRecoveryEncryptedKey": "bmV3", "newRecoveryKeyHash": None}),
    ],
)
def test_without_a_stored_hash_nothing_is_verified_or_written(alice, recovery_key, url, extra):
    PrivateKey.objects.filter(pk=alice.id).update(recovery_key_hash=None)
    before = snapshot(alice)
    payload = {"email": EMAIL, "recoveryKey": recovery_key, **extra}
    if url == UPDATE_RECOVERY:
        payload["newRecoveryKey"] = generate_recovery_key()
    response = post(url, payload)
    assert response.status_code == 400
    assert response.json() == {
        "message": "No recovery key configured for this account",
        "code": "recovery_not_configured",
        "fields": {},
    }
    assert snapshot(alice) == before
    attempt = RecoveryAttempt.objects.get()
    assert (attempt.user_id, attempt.success) == (alice.id, False)
    assert not AuditEvent.objects.filter(record_type="private_key").exists()


def test_a_hash_without_a_ciphertext_is_not_configured_either(alice, recovery_key):
    PrivateKey.objects.filter(pk=alice.id).update(recovery_encrypted_key=None)
    response = post(VERIFY, {"email": EMAIL, "recoveryKey": recovery_key})
    assert response.status_code == 400
    assert response.json()["code"] == "recovery_not_configured"


@pytest.mark.parametrize(
    ("url", "payload", "field"),
    [
        (VERIFY, {"recoveryKey": "X"}, "email"),
        (VERIFY, {"email": EMAIL}, "recoveryKey"),
        (VERIFY, {"email": EMAIL, "recoveryKey": "OOOO-IIII"}, "recoveryKey"),
        (VERIFY, {"email": EMAIL * 20, "recoveryKey": "X"}, "email"),
        (VERIFY, {"email": ["a"], "recoveryKey": "X"}, "email"),
        (UPDATE, {"email": EMAIL, "recoveryKey": "K"}, "newCredentials"),
        (UPDATE, {"email": EMAIL, "newCredentials": new_credentials()}, "recoveryKey"),
        (
            UPDATE,
            {"email": EMAIL, "recoveryKey": "K", "newCredentials": {"privateKey": NEW_PRIVATE}},
            "newCredentials",
        ),
        (UPDATE_RECOVERY, {"email": EMAIL, "recoveryKey": "K"}, "newRecoveryEncryptedKey"),
        (
            UPDATE_RECOVERY,
            {
                "email": EMAIL,
                "recoveryKey": "K",
                "newRecoveryEncryptedKey": "x",
                "newRecoveryKeyHash": "short",
            },
            "newRecoveryKeyHash",
        ),
    ],
)
def test_incomplete_bodies_are_400_and_write_nothing(alice, recovery_key, url, payload, field):
    for name, value in list(payload.items()):
        if value == "K":
            payload[name] = recovery_key
    before = snapshot(alice)
    response = post(url, payload)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"
    assert field in response.json()["fields"]
    assert snapshot(alice) == before
    assert not RecoveryAttempt.objects.exists()


# --------------------------------------------------------------------------- update


def test_update_replaces_the_key_material_and_drops_key_pass(alice, recovery_key):
    before = snapshot(alice)
    response = post(
        UPDATE, {"email": EMAIL, "recoveryKey": recovery_key, "newCredentials": new_credentials()}
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"success": True}
    key = PrivateKey.objects.get(pk=alice.id)
    assert (key.private_key, key.key_hash, key.key_derivation_method) == (
        NEW_PRIVATE,
        NEW_HASH,
        "passphrase",
    )
    assert key.key_pass is None
    assert key.recovery_key_hash == before["recovery_key_hash"]  # recovery stays valid
    assert key.updated_at > before["updated_at"]
    attempt = RecoveryAttempt.objects.get()
    assert (attempt.user_id, attempt.attempt_type, attempt.success) == (
        alice.id,
        "passphrase_reset",
        True,
    )
    audit = AuditEvent.objects.get(record_type="private_key")
    assert (audit.action, audit.profile_id) == ("update", alice.id)
    assert post(VERIFY, {"email": EMAIL, "recoveryKey": recovery_key}).status_code == 200


def test_update_can_switch_to_a_passkey(alice, recovery_key):
    response = post(
        UPDATE,
        {
            "email": EMAIL,
            "recoveryKey": recovery_key,
            "newCredentials": new_credentials(
                key_derivation_method="passkey_prf",
                passkey_credential_id=CREDENTIAL_ID,
                passkey_prf_salt=PRF_SALT,
            ),
        },
    )
    assert response.status_code == 200
    key = PrivateKey.objects.get(pk=alice.id)
    assert (key.passkey_credential_id, key.passkey_prf_salt) == (CREDENTIAL_ID, PRF_SALT)


def test_update_with_a_passkey_method_but_no_salt_is_refused_before_any_attempt(
    alice, recovery_key
):
    before = snapshot(alice)
    response = post(
        UPDATE,
        {
            "email": EMAIL,
            "recoveryKey": recovery_key,
            "newCredentials": new_credentials(
                key_derivation_method="passkey_prf", passkey_credential_id=CREDENTIAL_ID
            ),
        },
    )
    assert response.status_code == 400
    assert response.json()["code"] == "passkey_parameters_required"
    assert snapshot(alice) == before
    assert not RecoveryAttempt.objects.exists()


def test_update_with_a_wrong_key_changes_nothing(alice, recovery_key):
    before = snapshot(alice)
    response = post(
        UPDATE,
        {
            "email": EMAIL,
            "recoveryKey": generate_recovery_key(),
            "newCredentials": new_credentials(),
        },
    )
    assert response.status_code == 401
    assert response.json() == INVALID
    assert snapshot(alice) == before
    attempt = RecoveryAttempt.objects.get()
    assert (attempt.user_id, attempt.attempt_type, attempt.success) == (
        alice.id,
        "passphrase_reset",
        False,
    )
    assert not AuditEvent.objects.filter(record_type="private_key").exists()


# --------------------------------------------------------------------------- update-recovery


@pytest.mark.parametrize("send", ["hash", "key", "both"])
def test_update_recovery_replaces_the_hash_so_only_the_new_key_verifies(alice, recovery_key, send):
    new_key = generate_recovery_key()
    new_envelope = recovery_encrypt(new_key, PEM)
    payload: dict[str, Any] = {
        "email": EMAIL,
        "recoveryKey": recovery_key,
        "newRecoveryEncryptedKey": new_envelope,
    }
    if send in ("hash", "both"):
        payload["newRecoveryKeyHash"] = recovery_key_hash(new_key)
    if send in ("key", "both"):
        payload["newRecoveryKey"] = new_key
    response = post(UPDATE_RECOVERY, payload)
    assert response.status_code == 200, response.content
    assert response.json() == {"success": True}
    key = PrivateKey.objects.get(pk=alice.id)
    assert key.recovery_encrypted_key == new_envelope
    assert key.recovery_key_hash == recovery_key_hash(new_key)
    assert key.recovery_created_at > timezone.now() - timedelta(minutes=1)

    old = post(VERIFY, {"email": EMAIL, "recoveryKey": recovery_key})
    assert old.status_code == 401
    assert old.json() == INVALID
    new = post(VERIFY, {"email": EMAIL, "recoveryKey": new_key})
    assert new.status_code == 200
    assert recovery_decrypt(new_key, new.json()["recovery_encrypted_key"]) == PEM
    types = list(
        RecoveryAttempt.objects.order_by("created_at").values_list("attempt_type", "success")
    )
    assert types == [
        ("recovery_update", True),
        ("recovery_verify", False),
        ("recovery_verify", True),
    ]


def test_update_recovery_without_a_new_hash_or_key_writes_nothing(alice, recovery_key):
    before = snapshot(alice)
    response = post(
        UPDATE_RECOVERY,
        {
            "email": EMAIL,
            "recoveryKey": recovery_key,
            "newRecoveryEncryptedKey": "bmV3LWVudmVsb3Bl",
        },
    )
    assert response.status_code == 400
    assert response.json()["code"] == "recovery_hash_required"
    assert snapshot(alice) == before
    assert post(VERIFY, {"email": EMAIL, "recoveryKey": recovery_key}).status_code == 200


def test_update_recovery_refuses_a_hash_that_does_not_match_the_new_key(alice, recovery_key):
    before = snapshot(alice)
    response = post(
        UPDATE_RECOVERY,
        {
            "email": EMAIL,
            "recoveryKey": recovery_key,
            "newRecoveryEncryptedKey": "bmV3LWVudmVsb3Bl",
            "newRecoveryKey": generate_recovery_key(),
            "newRecoveryKeyHash": recovery_key_hash(generate_recovery_key()),
        },
    )
    assert response.status_code == 400
    assert response.json()["code"] == "recovery_hash_mismatch"
    assert snapshot(alice) == before


def test_update_recovery_with_a_wrong_old_key_changes_nothing(alice, recovery_key):
    before = snapshot(alice)
    new_key = generate_recovery_key()
    response = post(
        UPDATE_RECOVERY,
        {
            "email": EMAIL,
            "recoveryKey": new_key,
            "newRecoveryEncryptedKey": recovery_encrypt(new_key, PEM),
            "newRecoveryKey": new_key,
        },
    )
    assert response.status_code == 401
    assert snapshot(alice) == before


# --------------------------------------------------------------------------- rate limit


def wrong(email: str = EMAIL, ip: str = "198.51.100.7", url: str = VERIFY) -> Any:
    payload: dict[str, Any] = {"email": email, "recoveryKey": generate_recovery_key()}
    if url == UPDATE:
        payload["newCredentials"] = new_credentials()
    if url == UPDATE_RECOVERY:
        payload.update(newRecoveryEncryptedKey="bmV3", newRecoveryKey=generate_recovery_key())
    return post(url, payload, ip=ip)


def assert_rate_limited(response: Any) -> int:
    assert response.status_code == 429, response.content
    assert response.json() == {
        "message": "Too many attempts, try again later",
        "code": "rate_limited",
        "fields": {},
    }
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 15 * 60
    return retry_after


def test_brute_force_on_one_email_is_refused_after_five_failures(alice, recovery_key):
    for n in range(5):
        assert wrong(ip=f"198.51.100.{n}").status_code == 401  # a new IP each time
    assert_rate_limited(wrong(ip="198.51.100.99"))
    # Refused before verification: even the right key gets 429, and nothing is written.
    before = snapshot(alice)
    response = post(
        UPDATE,
        {"email": EMAIL, "recoveryKey": recovery_key, "newCredentials": new_credentials()},
        ip="198.51.100.100",
    )
    assert_rate_limited(response)
    assert snapshot(alice) == before
    rows = list(RecoveryAttempt.objects.order_by("created_at"))
    assert len(rows) == 7
    assert [r.metadata["outcome"] for r in rows[5:]] == ["rate_limited", "rate_limited"]
    assert all(r.user_id is None and not r.success for r in rows[5:])
    # Another account is not affected by Alice's lock.
    assert wrong(email="bob@example.test", ip="192.0.2.1").status_code == 401


def test_brute_force_from_one_ip_is_refused_across_emails(alice, recovery_key):
    for n in range(5):
        assert wrong(email=f"guess{n}@example.test", ip="203.0.113.50").status_code == 401
    assert_rate_limited(wrong(email="guess-next@example.test", ip="203.0.113.50"))
    # Alice, from her own IP, is not affected by that IP's lock.
    ok = post(VERIFY, {"email": EMAIL, "recoveryKey": recovery_key}, ip="192.0.2.44")
    assert ok.status_code == 200
    assert RecoveryAttempt.objects.count() == 7


def test_the_three_endpoints_share_one_budget(alice, recovery_key):
    for url in (VERIFY, VERIFY, UPDATE, UPDATE, UPDATE_RECOVERY):
        assert wrong(url=url).status_code == 401
    assert_rate_limited(wrong(url=UPDATE_RECOVERY))


def test_successful_attempts_do_not_use_up_the_budget(alice, recovery_key):
    for _ in range(6):
        assert post(VERIFY, {"email": EMAIL, "recoveryKey": recovery_key}).status_code == 200
    assert wrong().status_code == 401


def test_retry_after_counts_down_to_when_the_oldest_failure_leaves_the_window(alice, recovery_key):
    for _ in range(5):
        wrong()
    oldest = RecoveryAttempt.objects.order_by("created_at").first()
    RecoveryAttempt.objects.filter(pk=oldest.pk).update(
        created_at=timezone.now() - timedelta(minutes=14)
    )
    retry_after = assert_rate_limited(wrong())
    assert 55 <= retry_after <= 61
    # Once it has left the window, one more attempt is allowed (and then refused again).
    RecoveryAttempt.objects.filter(pk=oldest.pk).update(
        created_at=timezone.now() - timedelta(minutes=16)
    )
    assert post(VERIFY, {"email": EMAIL, "recoveryKey": recovery_key}).status_code == 200
    assert wrong().status_code == 401
    assert_rate_limited(wrong())


def test_the_limit_and_window_come_from_settings(alice, recovery_key, settings):
    settings.MEDIQOM_RECOVERY_RATE_LIMIT = 2
    settings.MEDIQOM_RECOVERY_RATE_WINDOW_SECONDS = 60
    wrong()
    wrong()
    assert assert_rate_limited(wrong()) <= 60


def test_every_attempt_leaves_exactly_one_row(alice, recovery_key):
    responses = [
        post(VERIFY, {"email": EMAIL, "recoveryKey": recovery_key}),  # ok
        wrong(),  # wrong key
        wrong(email="nobody@example.test"),  # unknown email
        post(  # bad new credentials: refused before it is an attempt
            UPDATE,
            {"email": EMAIL, "recoveryKey": recovery_key, "newCredentials": {}},
        ),
        wrong(url=UPDATE),
        wrong(url=UPDATE_RECOVERY),
        wrong(),  # the fifth failure from this IP
        wrong(),  # rate limited
        wrong(email="nobody@example.test", ip="192.0.2.200"),  # 2nd failure for this email
    ]
    assert [r.status_code for r in responses] == [200, 401, 401, 400, 401, 401, 401, 429, 401]
    assert RecoveryAttempt.objects.count() == 8
    outcomes = list(
        RecoveryAttempt.objects.order_by("created_at").values_list("metadata__outcome", flat=True)
    )
    assert outcomes == ["ok"] + ["invalid_recovery"] * 5 + ["rate_limited", "invalid_recovery"]


# --------------------------------------------------------------------------- secrets


class RawRecords(logging.Handler):
    """Every record as emitted, before any redacting filter runs."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()} {record.__dict__!r}")


@pytest.fixture
def raw_records() -> Iterator[RawRecords]:
    raw = RawRecords()
    loggers = [logging.getLogger(name) for name in ("mediqom", "django", "django.request", "")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.handlers.insert(0, raw)
        logger.setLevel(logging.DEBUG)
    yield raw
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(raw)
        logger.setLevel(level)


def test_no_recovery_key_passphrase_or_email_is_logged_or_stored(
    alice, recovery_key, configured_output, raw_records
):
    new_key = generate_recovery_key()
    post(VERIFY, {"email": EMAIL, "recoveryKey": recovery_key})
    post(VERIFY, {"email": EMAIL, "recoveryKey": new_key})
    post(VERIFY, {"email": "nobody@example.test", "recoveryKey": new_key})
    post(UPDATE, {"email": EMAIL, "recoveryKey": recovery_key, "newCredentials": new_credentials()})
    post(
        UPDATE_RECOVERY,
        {
            "email": EMAIL,
            "recoveryKey": recovery_key,
            "newRecoveryEncryptedKey": recovery_encrypt(new_key, PEM),
            "newRecoveryKey": new_key,
        },
    )
    for _ in range(5):
        wrong()

    output = configured_output.getvalue() + "\n".join(raw_records.lines)
    assert "recovery verify" in output  # the events are logged...
    secrets = [
        recovery_key,
        normalize_recovery_key(recovery_key),
        new_key,
        normalize_recovery_key(new_key),
        "convenience passphrase",
        NEW_PRIVATE[:40],
        "example.test",
    ]
    for secret in secrets:  # ...without any secret or address
        assert secret not in output
    stored = json.dumps(list(RecoveryAttempt.objects.values_list("metadata", flat=True)))
    for secret in secrets:
        assert secret not in stored
