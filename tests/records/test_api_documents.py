"""Documents and key grants (contract §2.5, §6.2, §11.1): create, list, read, update, delete."""

from __future__ import annotations

import uuid

import pytest

from mediqom.audit.models import AuditEvent
from mediqom.records.models import Document, Key, Profile, ProfileLink
from tests.conftest import ok
from tests.records.conftest import CONTENT, META, NOT_FOUND, WRAPPED, document_body

pytestmark = pytest.mark.django_db


def create(client, pid, body):
    return client.post(f"/v1/med/profiles/{pid}/documents", body, format="json")


def test_it_stores_and_returns_ciphertext_verbatim_whatever_its_length(alice, client_for):
    client = client_for(alice)
    huge = "QUJD" * 400_000 + "=\n "  # 1.6 MB, trailing whitespace kept
    body = document_body(author=alice.id, profile=alice.id, content=huge, metadata=" " + META)
    did = create(client, alice.id, body).json()["id"]
    document = ok(client.get(f"/v1/med/profiles/{alice.id}/documents/{did}")).json()
    assert document["content"] == huge
    assert document["metadata"] == " " + META
    assert Document.objects.get(pk=did).content == huge


def test_it_lists_by_type_with_content_only_when_full(alice, client_for):
    client = client_for(alice)
    for doc_type in ("document", "internal", "health"):
        create(
            client, alice.id, document_body(author=alice.id, profile=alice.id, doc_type=doc_type)
        )
    url = f"/v1/med/profiles/{alice.id}/documents"
    assert sorted(d["type"] for d in ok(client.get(url)).json()) == [
        "document",
        "health",
        "internal",
    ]
    selected = ok(client.get(url, {"types": "health,internal"})).json()
    assert sorted(d["type"] for d in selected) == ["health", "internal"]
    assert all("content" not in d for d in selected)
    full = ok(client.get(url, {"types": "document", "full": "true"})).json()
    assert [d["content"] for d in full] == [CONTENT]
    assert full[0]["attachments"] == []


def test_it_refuses_unknown_types_in_the_filter(alice, client_for):
    response = client_for(alice).get(f"/v1/med/profiles/{alice.id}/documents?types=document,x")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_document_type"
    assert "types" in response.json()["fields"]


def test_it_lists_documents_in_a_constant_number_of_queries(
    alice, client_for, django_assert_num_queries
):
    client = client_for(alice)
    url = f"/v1/med/profiles/{alice.id}/documents?full=true"
    create(client, alice.id, document_body(author=alice.id, profile=alice.id))
    with django_assert_num_queries(10):
        assert len(ok(client.get(url)).json()) == 1
    for _ in range(6):
        create(client, alice.id, document_body(author=alice.id, profile=alice.id))
    with django_assert_num_queries(10):
        assert len(ok(client.get(url)).json()) == 7


def test_it_audits_reads_and_writes_without_ciphertext(alice, client_for):
    client = client_for(alice)
    did = create(client, alice.id, document_body(author=alice.id, profile=alice.id)).json()["id"]
    ok(client.get(f"/v1/med/profiles/{alice.id}/documents"))
    ok(client.get(f"/v1/med/profiles/{alice.id}/documents/{did}"))
    ok(
        client.put(
            f"/v1/med/profiles/{alice.id}/documents/{did}",
            {"metadata": "bQ==", "content": "Yw=="},
            format="json",
        )
    )
    ok(client.delete(f"/v1/med/profiles/{alice.id}/documents/{did}"))
    actions = set(
        AuditEvent.objects.filter(record_type="document", record_id=did).values_list(
            "action", flat=True
        )
    )
    assert actions == {"create", "list", "read", "update", "delete"}
    assert AuditEvent.objects.filter(record_type="key", action="read").exists()
    for event in AuditEvent.objects.all():
        assert META not in str(event.__dict__)
        assert WRAPPED not in str(event.__dict__)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"type": "recipe"}, "invalid"),
        ({"type": None}, "invalid"),
        ({"metadata": ""}, "invalid"),
        ({"metadata": 42}, "invalid"),
        ({"keys": []}, "invalid"),
        ({"keys": "not-a-list"}, "invalid"),
        ({"keys": [{"user_id": "not-a-uuid", "key": "aw=="}]}, "invalid"),
        ({"keys": [{"user_id": str(uuid.uuid4()), "key": "aw=="}]}, "invalid_key_target"),
        ({"attachments": ["https://evil.example/x"]}, "invalid_attachment"),
        ({"attachments": [12]}, "invalid"),
    ],
)
def test_it_refuses_bad_documents_and_stores_nothing(alice, client_for, change, code):
    body = {**document_body(author=alice.id, profile=alice.id), **change}
    response = create(client_for(alice), alice.id, body)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == code
    assert not Document.objects.exists()
    assert not Key.objects.exists()


def test_it_says_invalid_document_type_and_needs_non_empty_keys(alice, client_for):
    client = client_for(alice)
    bad_type = create(client, alice.id, {**document_body(author=alice.id, profile=alice.id),
                                         "type": "recipe"})  # fmt: skip
    assert bad_type.json()["message"] == "type: Invalid document type"
    no_keys = create(client, alice.id, {**document_body(author=alice.id, profile=alice.id),
                                        "keys": []})  # fmt: skip
    assert no_keys.json()["message"] == "keys: Invalid keys - keys must be a non-empty array"


def test_it_refuses_malformed_json(alice, client_for):
    response = client_for(alice).post(
        f"/v1/med/profiles/{alice.id}/documents", data="{", content_type="application/json"
    )
    assert (response.status_code, response.json()["code"]) == (400, "malformed_json")
    assert not Document.objects.exists()


@pytest.mark.parametrize("doc_type", ["health", "profile"])
def test_it_allows_one_root_document_of_each_kind_per_profile(alice, client_for, doc_type):
    client = client_for(alice)
    body = document_body(author=alice.id, profile=alice.id, doc_type=doc_type)
    assert create(client, alice.id, body).status_code == 200
    again = create(client, alice.id, body)
    assert again.status_code == 400
    assert again.json()["message"] == "Document already exists"
    assert Document.objects.filter(type=doc_type).count() == 1
    assert Key.objects.count() == 1


def test_the_root_limit_holds_for_roots_the_caller_cannot_see(alice, bob, client_for):
    """Bob (an approved parent) may write into Alice's profile, but her health document, for
    which he holds no grant, still counts."""
    ProfileLink.objects.create(parent_id=bob.id, profile_id=alice.id, status="approved")
    create(client_for(alice), alice.id, document_body(author=alice.id, profile=alice.id,
                                                      doc_type="health"))  # fmt: skip
    response = create(
        client_for(bob), alice.id, document_body(author=bob.id, profile=alice.id, doc_type="health")
    )
    assert response.status_code == 400
    assert response.json()["message"] == "Document already exists"


def test_grants_may_target_only_the_caller_and_the_profile(alice, bob, client_for):
    child = Profile.objects.create(full_name="Child", owner_id=alice.id)
    body = document_body(author=alice.id, profile=child.pk)
    body["keys"].append({"user_id": str(bob.id), "owner_id": str(child.pk), "key": "aw=="})
    response = create(client_for(alice), child.pk, body)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_key_target"
    body = document_body(author=alice.id, profile=child.pk)
    body["keys"][0]["owner_id"] = str(alice.id)
    response = create(client_for(alice), child.pk, body)
    assert (response.status_code, response.json()["code"]) == (400, "invalid_key_owner")
    assert not Document.objects.exists()


def test_an_approved_parent_may_write_but_a_requested_one_may_not(alice, bob, client_for):
    link = ProfileLink.objects.create(parent_id=bob.id, profile_id=alice.id, status="request")
    body = document_body(author=bob.id, profile=alice.id)
    # visible through the link, but not approved: refused, not hidden
    assert create(client_for(bob), alice.id, body).status_code == 403
    link.status = "approved"
    link.save(update_fields=["status"])
    response = create(client_for(bob), alice.id, body)
    assert response.status_code == 200
    did = response.json()["id"]
    # Alice reads it with her grant; Bob with his
    for user in (alice, bob):
        document = ok(client_for(user).get(f"/v1/med/profiles/{alice.id}/documents/{did}")).json()
        assert document["keys"] == [{"key": document["keys"][0]["key"], "owner_id": str(alice.id)}]
    assert (
        ok(client_for(alice).get(f"/v1/med/profiles/{alice.id}/documents/{did}")).json()["keys"][0][
            "key"
        ]
        == WRAPPED + "2"
    )


def test_a_grant_for_the_profile_alone_does_not_let_the_author_read(alice, client_for):
    child = Profile.objects.create(full_name="Child", owner_id=alice.id)
    body = document_body(author=alice.id, profile=child.pk)
    body["keys"] = body["keys"][1:]  # only the child's grant
    did = create(client_for(alice), child.pk, body).json()["id"]
    response = client_for(alice).get(f"/v1/med/profiles/{child.pk}/documents/{did}")
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


def test_update_keeps_the_attachments_when_none_are_sent(alice, client_for):
    client = client_for(alice)
    path = ok(
        client.post(f"/v1/med/profiles/{alice.id}/attachments", {"file": "eA=="}, format="json")
    ).json()["path"]
    body = document_body(author=alice.id, profile=alice.id, attachments=[path])
    did = create(client, alice.id, body).json()["id"]
    ok(
        client.put(
            f"/v1/med/profiles/{alice.id}/documents/{did}",
            {"metadata": "bQ==", "content": "Yw=="},
            format="json",
        )
    )
    assert Document.objects.get(pk=did).attachments == [path]


@pytest.mark.parametrize("missing", ["metadata", "content"])
def test_update_needs_metadata_and_content(alice, client_for, missing):
    client = client_for(alice)
    did = create(client, alice.id, document_body(author=alice.id, profile=alice.id)).json()["id"]
    body = {"metadata": "bQ==", "content": "Yw=="}
    del body[missing]
    response = client.put(f"/v1/med/profiles/{alice.id}/documents/{did}", body, format="json")
    assert response.status_code == 400
    assert missing in response.json()["fields"]
    assert Document.objects.get(pk=did).metadata == META


def test_a_document_is_reached_only_through_its_own_profile(alice, client_for):
    client = client_for(alice)
    child = ok(
        client.post(
            "/v1/med/profiles",
            {"fullName": "C", "publicKey": "P", "privateKey": "K", "key_hash": "h"},
            format="json",
        )
    ).json()[0]["id"]
    did = create(client, alice.id, document_body(author=alice.id, profile=alice.id)).json()["id"]
    for method in ("get", "put", "delete"):
        response = getattr(client, method)(
            f"/v1/med/profiles/{child}/documents/{did}",
            {"metadata": "bQ==", "content": "Yw=="},
            format="json",
        )
        assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert Document.objects.filter(pk=did).exists()


@pytest.mark.parametrize(
    ("full", "status", "with_content"),
    [("true", 200, True), ("false", 200, False), ("yes", 400, False), ("", 400, False)],
)
def test_full_is_true_or_false(world, full, status, with_content):
    response = world.client.get(f"/v1/med/profiles/{world.id}/documents?full={full}")
    assert response.status_code == status, response.content
    if status == 200:
        rows = response.json()
        assert rows
        assert {("content" in row, "attachments" in row) for row in rows} == {(with_content,) * 2}
    else:
        assert response.json()["code"] == "invalid_query"
