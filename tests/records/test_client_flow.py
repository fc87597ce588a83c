"""The client's real sequence, end to end, with every JSON shape of contract §2.5/§2.8 asserted:
onboarding → /v1/med/user → family profile → documents with grants for two profiles →
attachments → avatar → delete the account."""

from __future__ import annotations

import json
import uuid

import pytest

from mediqom.audit.models import AuditEvent
from mediqom.records.models import Document, Key, PrivateKey, Profile, ProfileLink, Subscription
from tests.conftest import ok
from tests.records.conftest import (
    CONTENT,
    IMAGES,
    META,
    NOT_FOUND,
    PEM_CHILD,
    WRAPPED,
    data_url,
    document_body,
    stored_files,
)
from tests.records.test_api_user import ENC_PRIVATE, PEM_PUBLIC, onboarding_body

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite_ok]

PROFILE_ROW_KEYS = {
    "id", "auth_id", "owner_id", "fullName", "avatarUrl", "subscription", "publicKey",
    "language", "email", "updated_at",
}  # fmt: skip
KEY_ROW_KEYS = {"id", "created_at", "document_id", "owner_id", "user_id", "key", "author_id"}


def test_the_client_sequence_from_onboarding_to_account_deletion(alice, client_for, local_storage):
    client = client_for(alice)
    me = str(alice.id)

    # 1. onboarding with the two root documents
    response = client.post("/v1/account/onboarding", onboarding_body(), format="json")
    assert response.status_code == 200
    assert response.json() == {"success": True}

    # 2. the bootstrap read
    user = ok(client.get("/v1/med/user")).json()
    assert user["id"] == me
    assert user["fullName"] == "Alice Example"
    assert user["publicKey"] == PEM_PUBLIC
    assert user["private_keys"]["key_hash"].startswith("$2")
    assert user["private_keys"] == {
        "privateKey": ENC_PRIVATE,
        "key_hash": user["private_keys"]["key_hash"],
        "key_pass": None,
        "key_derivation_method": "passphrase",
        "passkey_credential_id": None,
        "passkey_prf_salt": None,
        "recovery_encrypted_key": None,
    }

    # the own profile is listed (the client hides its delete button by `profile.id != user.id`)
    listed = ok(client.get("/v1/med/profiles")).json()
    assert [entry["profiles"]["id"] for entry in listed] == [me]
    assert listed[0]["status"] == "approved"

    # 3. a family profile: an array with the created row
    response = client.post(
        "/v1/med/profiles",
        {
            "fullName": "Little Bobby",
            "language": "cs",
            "publicKey": PEM_CHILD,
            "privateKey": "RU5DUllQVEVE" * 20,
            "key_hash": "$2a$10$" + "y" * 53,
            "key_pass": "k3y-p@ss",
        },
        format="json",
    )
    assert response.status_code == 200
    [row] = response.json()
    assert set(row) == PROFILE_ROW_KEYS
    assert row["auth_id"] is None
    assert row["owner_id"] == me
    assert row["fullName"] == "Little Bobby"
    assert row["publicKey"] == PEM_CHILD
    assert row["language"] == "cs"
    family = row["id"]
    assert PrivateKey.objects.get(pk=family).key_pass == "k3y-p@ss"

    listed = ok(client.get("/v1/med/profiles")).json()
    assert {entry["profiles"]["id"] for entry in listed} == {me, family}
    assert ok(client.get(f"/v1/med/profiles/{family}")).json() == {
        "profiles": {
            "id": family,
            "fullName": "Little Bobby",
            "language": "cs",
            "avatarUrl": None,
            "publicKey": PEM_CHILD,
        },
        "status": "approved",
    }

    # 4. root documents of every listed profile, as loadProfiles() asks for them
    roots = ok(client.get(f"/v1/med/profiles/{me}/documents?types=profile,health&full=true")).json()
    assert sorted(doc["type"] for doc in roots) == ["health", "profile"]
    for doc in roots:
        assert set(doc) == {
            "id", "metadata", "type", "user_id", "author_id", "keys", "content", "attachments",
        }  # fmt: skip
        assert doc["user_id"] == me
        assert doc["author_id"] == me
        assert doc["attachments"] == []
        [key] = doc["keys"]
        assert set(key) == KEY_ROW_KEYS
        assert key["user_id"] == me
        assert key["owner_id"] == me
    assert ok(client.get(f"/v1/med/profiles/{family}/documents?types=profile,health")).json() == []

    # 5. an attachment for a document of the family profile, then the document itself
    blob = "Q0lQSEVSVEVYVA==" * 1000
    response = client.post(f"/v1/med/profiles/{family}/attachments", {"file": blob}, format="json")
    assert response.status_code == 200
    attachment = response.json()
    assert set(attachment) == {"url", "path"}
    owner, name = attachment["path"].split("/")
    assert owner == me
    assert len(name) == 26
    assert attachment["url"].endswith(f"/attachments?path={attachment['path']}")

    body = document_body(author=alice.id, profile=uuid.UUID(family), attachments=[attachment])
    response = client.post(f"/v1/med/profiles/{family}/documents", body, format="json")
    assert response.status_code == 200
    assert set(response.json()) == {"id"}
    doc_id = response.json()["id"]
    grants = Key.objects.filter(document_id=doc_id)
    assert {(str(k.user_id), str(k.owner_id), str(k.author_id)) for k in grants} == {
        (me, family, me),
        (family, family, me),
    }

    # list: only the caller's grant, metadata only unless full=true
    [item] = ok(client.get(f"/v1/med/profiles/{family}/documents")).json()
    assert set(item) == {"id", "metadata", "type", "user_id", "author_id", "keys"}
    assert item["metadata"] == META
    assert [key["user_id"] for key in item["keys"]] == [me]
    assert item["keys"][0]["key"] == WRAPPED

    # read: ciphertext byte for byte, attachments as the reference stored objects (JSON text)
    document = ok(client.get(f"/v1/med/profiles/{family}/documents/{doc_id}")).json()
    assert document == {
        "id": doc_id,
        "metadata": META,
        "content": CONTENT,
        "type": "document",
        "attachments": [json.dumps(attachment, separators=(",", ":"))],
        "user_id": family,
        "author_id": me,
        "keys": [{"key": WRAPPED, "owner_id": family}],
    }

    # the attachment body comes back raw
    response = client.get(f"/v1/med/profiles/{owner}/attachments", {"path": attachment["path"]})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content == blob.encode()

    # 6. update (the client sends URL strings on update) → JSON null
    response = client.put(
        f"/v1/med/profiles/{family}/documents/{doc_id}",
        {"metadata": "bmV3IG1ldGE=", "content": "bmV3", "attachments": [attachment["url"]]},
        format="json",
    )
    assert response.status_code == 200
    assert response.content == b"null"
    document = ok(client.get(f"/v1/med/profiles/{family}/documents/{doc_id}")).json()
    assert (document["metadata"], document["content"]) == ("bmV3IG1ldGE=", "bmV3")
    assert document["attachments"] == [attachment["url"]]

    # 7. delete the attachment (own upload) and the document
    response = client.delete(f"/v1/med/profiles/{me}/attachments?path={attachment['path']}")
    assert response.status_code == 200
    assert response.json() == {"deleted": True}
    assert (
        ok(client.get(f"/v1/med/profiles/{me}/attachments?path={attachment['path']}"), 404).json()
        == NOT_FOUND
    )
    response = client.delete(f"/v1/med/profiles/{family}/documents/{doc_id}")
    assert response.status_code == 200
    assert response.content == b"null"
    assert ok(client.get(f"/v1/med/profiles/{family}/documents/{doc_id}"), 404).json() == NOT_FOUND
    assert not Key.objects.filter(document_id=doc_id).exists()

    # 8. avatar: the client posts without a Content-Type (browsers send text/plain)
    png = (IMAGES / "avatar.png").read_bytes()
    response = client.post(
        f"/v1/med/profiles/{me}/avatar",
        data=json.dumps(
            {"file": data_url("avatar.png"), "filename": "0.42.png", "type": "image/png"}
        ),
        content_type="text/plain;charset=UTF-8",
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"filename": "0.42.png"}
    assert ok(client.get("/v1/med/user")).json()["avatarUrl"] == "0.42.png"
    response = client.get(
        f"/v1/med/profiles/{me}/avatar?path=0.42.png", HTTP_ACCEPT="image/avif,image/webp,*/*"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response.content == png

    # 9. rename and delete the family profile
    response = client.patch(f"/v1/med/profiles/{family}", {"fullName": "Bobby"}, format="json")
    assert response.status_code == 200
    assert set(response.json()) == PROFILE_ROW_KEYS
    assert response.json()["fullName"] == "Bobby"
    response = client.delete(f"/v1/med/profiles/{family}")
    assert response.json() == {"message": "Profile links and profile removed"}
    assert not Profile.objects.filter(pk=family).exists()

    # 10. delete the account: stored objects first, then the data
    ok(client.post(f"/v1/med/profiles/{me}/attachments", {"file": "eA=="}, format="json"))
    assert stored_files(local_storage)
    response = client.delete("/v1/user/delete")
    assert response.status_code == 200
    assert response.json() == {"success": True, "message": "Account deleted successfully"}
    assert stored_files(local_storage) == set()
    assert not Document.objects.filter(profile_id=alice.id).exists()
    assert not PrivateKey.objects.filter(pk=alice.id).exists()
    assert not ProfileLink.objects.filter(parent_id=alice.id).exists()
    assert not Subscription.objects.filter(pk=alice.id).exists()
    assert not Profile.objects.filter(owner_id=alice.id).exclude(pk=alice.id).exists()
    assert not Profile.objects.filter(pk=alice.id).exists()
    assert AuditEvent.objects.filter(
        actor_id=alice.id, record_type="account", action="delete"
    ).exists()
