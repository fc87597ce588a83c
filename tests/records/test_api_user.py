"""GET /v1/med/user, POST /v1/account/onboarding, GET /v1/med/profiles (contract §2.5)."""

from __future__ import annotations

from typing import Any

import pytest

from crypto_app.primitives import bcrypt_hash
from mediqom.audit.models import AuditEvent
from mediqom.records.models import Document, Key, PrivateKey, Profile, ProfileLink
from tests.conftest import ok

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite_ok]

PEM_PUBLIC = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n"
    "-----END PUBLIC KEY-----"
)
ENC_PRIVATE = "c2FsdHNhbHRzYWx0c2FsdGl2aXZpdml2aXZjaXBoZXJ0ZXh0dGFn" * 40


def onboarding_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "fullName": "Alice Example",
        "avatarUrl": None,
        "language": "en",
        "subscription": "individual",
        "publicKey": PEM_PUBLIC,
        "privateKey": ENC_PRIVATE,
        "key_hash": bcrypt_hash("correct horse"),
        "documents": [
            {
                "type": "health",
                "metadata": "bWV0YQ==",
                "content": "Y29udGVudA==",
                "keys": [{"key": "d3JhcHBlZC1rZXktMQ=="}],
            },
            {
                "type": "profile",
                "metadata": "bWV0YTI=",
                "content": "Y29udGVudDI=",
                "keys": [{"key": "d3JhcHBlZC1rZXktMg=="}],
            },
        ],
    }
    body.update(overrides)
    return body


def test_it_returns_a_not_onboarded_user_for_a_new_account(alice, client_for):
    response = client_for(alice).get("/v1/med/user")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(alice.id)
    assert body["auth_id"] == str(alice.id)
    assert body["fullName"] is None
    assert body["private_keys"] is None
    assert body["subscriptionStats"] == {
        "profiles": 5,
        "scans": 10,
        "default_scans": 10,
        "default_profiles": 5,
    }


def test_it_creates_the_profile_on_first_authenticated_request(client_for):
    from tests.conftest import make_user

    carol = make_user()
    assert not Profile.objects.filter(pk=carol.id).exists()
    assert client_for(carol).get("/v1/med/user").status_code == 200
    profile = Profile.objects.get(pk=carol.id)
    assert profile.auth_id == carol.id
    assert profile.owner_id == carol.id


def test_it_onboards_with_two_root_documents(alice, client_for):
    client = client_for(alice)
    response = client.post("/v1/account/onboarding", onboarding_body(), format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"success": True}

    body = ok(client.get("/v1/med/user")).json()
    assert body["fullName"] == "Alice Example"
    assert body["publicKey"] == PEM_PUBLIC
    assert body["language"] == "en"
    assert body["private_keys"]["privateKey"] == ENC_PRIVATE
    assert set(body["private_keys"]) == {
        "privateKey",
        "key_hash",
        "key_pass",
        "key_derivation_method",
        "passkey_credential_id",
        "passkey_prf_salt",
        "recovery_encrypted_key",
    }
    assert body["private_keys"]["key_pass"] is None

    documents = Document.objects.filter(profile_id=alice.id).order_by("type")
    assert [d.type for d in documents] == ["health", "profile"]
    assert documents[0].content == "Y29udGVudA=="
    keys = Key.objects.filter(document__profile_id=alice.id)
    assert {(k.user_id, k.owner_id, k.author_id) for k in keys} == {(alice.id, alice.id, alice.id)}
    assert (
        AuditEvent.objects.filter(
            actor_id=alice.id, record_type="document", action="create"
        ).count()
        == 2
    )


def test_it_checks_the_passphrase_against_the_key_hash(alice, client_for):
    body = onboarding_body(passphrase="wrong passphrase")
    response = client_for(alice).post("/v1/account/onboarding", body, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "Invalid passphrase"
    assert response.json()["error"] == "Invalid passphrase"
    assert not PrivateKey.objects.filter(pk=alice.id).exists()
    assert not Document.objects.filter(profile_id=alice.id).exists()


def test_it_stores_the_passphrase_in_convenience_mode(alice, client_for):
    body = onboarding_body(passphrase="correct horse")
    assert client_for(alice).post("/v1/account/onboarding", body, format="json").status_code == 200
    assert ok(client_for(alice).get("/v1/med/user")).json()["private_keys"]["key_pass"] == (
        "correct horse"
    )


@pytest.mark.parametrize("missing", ["fullName", "publicKey", "privateKey", "key_hash"])
def test_it_rejects_onboarding_without_required_fields(alice, client_for, missing):
    body = onboarding_body()
    del body[missing]
    response = client_for(alice).post("/v1/account/onboarding", body, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "Missing required fields"
    assert not PrivateKey.objects.filter(pk=alice.id).exists()


@pytest.mark.parametrize(
    ("documents", "field"),
    [
        ([{"type": "recipe", "metadata": "bQ==", "keys": [{"key": "aw=="}]}], "documents"),
        ([{"type": "health", "metadata": "bQ==", "keys": []}], "documents"),
        ([{"type": "health", "metadata": "bQ==", "keys": [{"key": "aw=="}]}] * 2, "documents"),
        ("not-a-list", "documents"),
    ],
)
def test_it_rejects_bad_documents_and_stores_nothing(alice, client_for, documents, field):
    body = onboarding_body(documents=documents)
    response = client_for(alice).post("/v1/account/onboarding", body, format="json")
    assert response.status_code == 400
    envelope = response.json()
    assert envelope["code"] == "invalid"
    assert field in envelope["fields"]
    assert not PrivateKey.objects.filter(pk=alice.id).exists()
    assert not Document.objects.filter(profile_id=alice.id).exists()
    assert Profile.objects.get(pk=alice.id).full_name is None


def test_it_lists_linked_profiles_in_the_client_shape(alice, bob, client_for):
    child = Profile.objects.create(
        full_name="Child", owner_id=alice.id, language="cs", public_key=PEM_PUBLIC
    )
    ProfileLink.objects.create(parent_id=alice.id, profile=child, status="approved")
    ProfileLink.objects.create(parent_id=bob.id, profile_id=bob.id, status="approved")

    response = client_for(alice).get("/v1/med/profiles")
    assert response.status_code == 200
    assert response.json() == [
        {
            "profiles": {
                "id": str(child.pk),
                "auth_id": None,
                "owner_id": str(alice.id),
                "fullName": "Child",
                "language": "cs",
                "avatarUrl": None,
                "publicKey": PEM_PUBLIC,
            },
            "status": "approved",
        }
    ]


def test_it_lists_profiles_in_a_constant_number_of_queries(
    alice, client_for, django_assert_max_num_queries
):
    for index in range(5):
        child = Profile.objects.create(full_name=f"Child {index}", owner_id=alice.id)
        ProfileLink.objects.create(parent_id=alice.id, profile=child, status="approved")
    client = client_for(alice)
    with django_assert_max_num_queries(8):
        assert len(ok(client.get("/v1/med/profiles")).json()) == 5
