"""POST /v1/settings/encryption (contract §2.4): the caller's own key material, audited."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from crypto_app.primitives import generate_recovery_key, recovery_encrypt, recovery_key_hash
from mediqom.audit.models import AuditEvent
from mediqom.records.models import PrivateKey, RecoveryAttempt
from tests.conftest import ok

pytestmark = pytest.mark.django_db

URL = "/v1/settings/encryption"
# bcryptjs-style hashes (not checked by this endpoint; precomputed to keep the tests fast)
OLD_HASH = "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
NEW_HASH = "$2a$10$CwTycUXWue0Thq9StjUM0uJ8.Dq0wQdH8S1yM7bx2hE/3sYxXg1yO"
OLD_PRIVATE = "b2xkLXByaXZhdGUta2V5LWVudmVsb3Bl" * 30
NEW_PRIVATE = "bmV3LXByaXZhdGUta2V5LWVudmVsb3Bl" * 30
CREDENTIAL_ID = "Y3JlZGVudGlhbC1pZC1mcm9tLXdlYmF1dGhu"
PRF_SALT = "c2FsdHNhbHRzYWx0c2FsdHNhbHRzYWx0c2FsdHNhbHQ="
PEM = b"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"


def key_row(user: Any, **fields: Any) -> PrivateKey:
    values: dict[str, Any] = {
        "private_key": OLD_PRIVATE,
        "key_hash": OLD_HASH,
        "key_pass": "convenience passphrase",
        "key_derivation_method": "passphrase",
    }
    values.update(fields)
    return PrivateKey.objects.create(profile_id=user.id, **values)


def body(**credentials: Any) -> dict[str, Any]:
    new: dict[str, Any] = {
        "privateKey": NEW_PRIVATE,
        "key_hash": NEW_HASH,
        "key_derivation_method": "passphrase",
    }
    new.update(credentials)
    return {"newCredentials": {k: v for k, v in new.items() if v is not ...}}


def snapshot(user: Any) -> dict[str, Any]:
    return dict(PrivateKey.objects.filter(pk=user.id).values().get())


def raw_key_pass(user: Any) -> Any:
    with connection.cursor() as cursor:
        pk = PrivateKey._meta.pk.get_db_prep_value(user.id, connection)
        cursor.execute('select "key_pass" from "private_keys" where "id" = %s', [pk])
        return cursor.fetchone()[0]


def test_it_switches_to_a_passphrase_and_drops_the_server_held_passphrase(alice, client_for):
    key_row(alice, passkey_credential_id=CREDENTIAL_ID, passkey_prf_salt=PRF_SALT)
    assert raw_key_pass(alice) is not None

    response = client_for(alice).post(URL, body(), format="json")

    assert response.status_code == 200, response.content
    assert response.json() == {"success": True, "method": "passphrase"}
    key = PrivateKey.objects.get(pk=alice.id)
    assert key.private_key == NEW_PRIVATE
    assert key.key_hash == NEW_HASH
    assert key.key_derivation_method == "passphrase"
    assert key.key_pass is None
    assert raw_key_pass(alice) is None
    assert key.passkey_credential_id is None
    assert key.passkey_prf_salt is None
    assert key.recovery_encrypted_key is None
    assert key.recovery_key_hash is None


def test_it_switches_to_a_passkey_and_stores_its_parameters(alice, client_for):
    key_row(alice)
    response = client_for(alice).post(
        URL,
        body(
            key_derivation_method="passkey_prf",
            passkey_credential_id=CREDENTIAL_ID,
            passkey_prf_salt=PRF_SALT,
        ),
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"success": True, "method": "passkey_prf"}
    key = PrivateKey.objects.get(pk=alice.id)
    assert key.key_derivation_method == "passkey_prf"
    assert key.passkey_credential_id == CREDENTIAL_ID
    assert key.passkey_prf_salt == PRF_SALT
    assert key.key_pass is None


def test_it_records_the_change_in_recovery_attempts_and_the_audit_log(alice, client_for):
    key_row(alice)
    ok(client_for(alice).post(URL, body(), format="json"))

    attempt = RecoveryAttempt.objects.get()
    assert attempt.user_id == alice.id
    assert attempt.attempt_type == "encryption_method_change"
    assert attempt.success is True
    assert set(attempt.metadata) == {"new_method", "timestamp"}
    assert attempt.metadata["new_method"] == "passphrase"
    audit = AuditEvent.objects.get(record_type="private_key")
    assert (audit.action, audit.outcome) == ("update", "success")
    assert audit.actor_id == alice.id
    assert audit.profile_id == alice.id


def test_it_stores_recovery_data_with_its_hash_and_the_key_then_verifies(alice, client_for):
    key_row(alice)
    recovery_key = generate_recovery_key()
    envelope = recovery_encrypt(recovery_key, PEM)
    response = client_for(alice).post(
        URL,
        body(recovery_encrypted_key=envelope, recovery_key_hash=recovery_key_hash(recovery_key)),
        format="json",
    )
    assert response.status_code == 200, response.content
    key = PrivateKey.objects.get(pk=alice.id)
    assert key.recovery_encrypted_key == envelope
    assert key.recovery_key_hash == recovery_key_hash(recovery_key)
    assert key.recovery_created_at is not None

    verified = client_for(None).post(
        "/v1/recover/verify",
        {"email": "alice@example.test", "recoveryKey": recovery_key},
        format="json",
    )
    assert verified.status_code == 200
    assert verified.json()["recovery_encrypted_key"] == envelope


def test_it_keeps_existing_recovery_data_when_none_is_sent(alice, client_for):
    recovery_key = generate_recovery_key()
    key_row(
        alice,
        recovery_encrypted_key=recovery_encrypt(recovery_key, PEM),
        recovery_key_hash=recovery_key_hash(recovery_key),
    )
    before = snapshot(alice)
    ok(
        client_for(alice).post(
            URL, body(recovery_encrypted_key=None, recovery_key_hash=""), format="json"
        )
    )
    after = snapshot(alice)
    for column in ("recovery_encrypted_key", "recovery_key_hash", "recovery_created_at"):
        assert after[column] == before[column]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "newCredentials"),
        ({"newCredentials": "not an object"}, "newCredentials"),
        (body(privateKey=...), "newCredentials"),
        (body(key_hash=...), "newCredentials"),
        (body(key_derivation_method=...), "newCredentials"),
        (body(key_derivation_method="rot13"), "newCredentials"),
        (body(privateKey=""), "newCredentials"),
        (body(recovery_key_hash="not-a-sha256-hash"), "newCredentials"),
        (body(passkey_prf_salt="not base64!"), "newCredentials"),
    ],
)
def test_it_rejects_incomplete_or_malformed_bodies_and_writes_nothing(
    alice, client_for, payload, field
):
    key_row(alice)
    before = snapshot(alice)
    response = client_for(alice).post(URL, payload, format="json")
    assert response.status_code == 400, response.content
    envelope = response.json()
    assert envelope["code"] == "invalid"
    assert field in envelope["fields"]
    assert snapshot(alice) == before
    assert not RecoveryAttempt.objects.exists()
    assert not AuditEvent.objects.filter(record_type="private_key").exists()


@pytest.mark.parametrize(
    "missing", [{"passkey_credential_id": CREDENTIAL_ID}, {"passkey_prf_salt": PRF_SALT}, {}]
)
def test_it_requires_the_passkey_parameters_for_the_passkey_method(alice, client_for, missing):
    key_row(alice)
    before = snapshot(alice)
    response = client_for(alice).post(
        URL, body(key_derivation_method="passkey_prf", **missing), format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "passkey_parameters_required"
    assert snapshot(alice) == before
    assert not RecoveryAttempt.objects.exists()


@pytest.mark.parametrize(
    "half",
    [
        {"recovery_encrypted_key": "cmVjb3ZlcnktZW52ZWxvcGUtd2l0aG91dC1oYXNo"},
        {"recovery_key_hash": recovery_key_hash(generate_recovery_key())},
    ],
)
def test_it_never_stores_a_recovery_ciphertext_without_its_hash(alice, client_for, half):
    key_row(alice)
    before = snapshot(alice)
    response = client_for(alice).post(URL, body(**half), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "recovery_pair_required"
    assert snapshot(alice) == before
    assert not RecoveryAttempt.objects.exists()


def test_it_answers_401_without_a_token(alice, client_for):
    key_row(alice)
    before = snapshot(alice)
    response = client_for(None).post(URL, body(), format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert snapshot(alice) == before


def test_it_answers_404_when_the_caller_has_no_key_row(alice, client_for):
    response = client_for(alice).post(URL, body(), format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert not RecoveryAttempt.objects.exists()


def test_bob_changes_only_his_own_keys(alice, bob, client_for):
    key_row(alice)
    alice_before = snapshot(alice)

    # Without a key row of his own, Bob gets the 404 of a missing row; Alice's is untouched.
    assert client_for(bob).post(URL, body(), format="json").status_code == 404
    assert snapshot(alice) == alice_before

    key_row(bob)
    assert client_for(bob).post(URL, body(), format="json").status_code == 200
    assert snapshot(alice) == alice_before
    assert PrivateKey.objects.get(pk=bob.id).private_key == NEW_PRIVATE
    assert list(RecoveryAttempt.objects.values_list("user_id", flat=True)) == [bob.id]


def test_it_cannot_reach_a_virtual_profile_key_through_this_endpoint(alice, client_for):
    """The endpoint changes the caller's own row only, not those of profiles it owns."""
    from mediqom.records.models import Profile

    child = Profile.objects.create(full_name="Alice's child", owner_id=alice.id)
    PrivateKey.objects.create(profile=child, private_key=OLD_PRIVATE, key_hash=OLD_HASH)
    response = client_for(alice).post(URL, body(), format="json")
    assert response.status_code == 404
    assert PrivateKey.objects.get(pk=child.pk).private_key == OLD_PRIVATE


@pytest.mark.parametrize("value", [0, 1.5, True, ["x"]])
def test_non_string_key_material_is_a_400_and_writes_nothing(alice, client_for, value):
    """Numbers are not silently turned into ciphertext text (found by schemathesis)."""
    key_row(alice)
    before = snapshot(alice)
    payload = body()
    payload["newCredentials"].update(recovery_encrypted_key=value, recovery_key_hash="A" * 43 + "=")
    response = client_for(alice).post(URL, payload, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"
    assert "recovery_encrypted_key" in response.json()["fields"]["newCredentials"]
    assert snapshot(alice) == before
