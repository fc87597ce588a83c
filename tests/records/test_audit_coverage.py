"""Every audited access the README lists leaves its audit row (actor, profile, record id,
action, outcome, request id, IP), in the request's own transaction; Bob reads none of Alice's
audit or recovery-attempt rows under RLS."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from mediqom.audit.models import AuditEvent
from mediqom.audit.services import record_ids
from mediqom.db.rls import rls_context
from mediqom.records.models import Document, RecoveryAttempt
from tests.conftest import token_for
from tests.records.conftest import World, build_world, data_url, document_body
from tests.records.test_cross_tenant import snapshot

pytestmark = pytest.mark.django_db


def audited(world: World, method: str, url: str, body: Any = None) -> tuple[Any, set[tuple]]:
    """Send one request with a fresh request id; its status and the audit rows it wrote."""
    request_id = f"req-{uuid.uuid4().hex}"
    response = getattr(world.client, method)(url, body, format="json", HTTP_X_REQUEST_ID=request_id)
    rows = AuditEvent.objects.filter(request_id=request_id)
    assert all(row.actor_id == world.id and row.ip == "127.0.0.1" for row in rows)
    # one row may cover several records of a type (audit.services.grouped): one per record here
    return response, {
        (record_type, action, record_id, profile_id, outcome)
        for record_type, action, joined, profile_id, outcome in rows.values_list(
            "record_type", "action", "record_id", "profile_id", "outcome"
        )
        for record_id in record_ids(joined)
    }


def keys_of(document_id: uuid.UUID, user_id: uuid.UUID) -> list[str]:
    from mediqom.records.models import Key

    return [
        str(pk)
        for pk in Key.objects.filter(document_id=document_id, user_id=user_id).values_list(
            "pk", flat=True
        )
    ]


def test_document_and_key_reads_are_audited(world):
    pid, did = world.family_id, world.family_document_id
    key_ids = keys_of(did, world.id)
    response, rows = audited(world, "get", f"/v1/med/profiles/{pid}/documents/{did}")
    assert response.status_code == 200
    assert rows == {("document", "read", str(did), pid, "success")} | {
        ("key", "read", key, pid, "success") for key in key_ids
    }
    response, rows = audited(world, "get", f"/v1/med/profiles/{pid}/documents")
    assert response.status_code == 200
    assert rows == {("document", "list", str(did), pid, "success")} | {
        ("key", "list", key, pid, "success") for key in key_ids
    }


def test_document_and_key_writes_are_audited(world):
    pid = world.family_id
    response, rows = audited(
        world,
        "post",
        f"/v1/med/profiles/{pid}/documents",
        document_body(author=world.id, profile=pid),
    )
    assert response.status_code == 200, response.content
    did = uuid.UUID(response.json()["id"])
    from mediqom.records.models import Key

    key_ids = {str(pk) for pk in Key.objects.filter(document_id=did).values_list("pk", flat=True)}
    assert len(key_ids) == 2
    assert rows == {("document", "create", str(did), pid, "success")} | {
        ("key", "create", key, pid, "success") for key in key_ids
    }
    response, rows = audited(
        world,
        "put",
        f"/v1/med/profiles/{pid}/documents/{did}",
        {"metadata": "bQ==", "content": "Yw=="},
    )
    assert response.status_code == 200, response.content
    assert rows == {("document", "update", str(did), pid, "success")}
    response, rows = audited(world, "delete", f"/v1/med/profiles/{pid}/documents/{did}")
    assert response.status_code == 200, response.content
    assert rows == {("document", "delete", str(did), pid, "success")}


def test_attachment_reads_uploads_and_deletes_are_audited(world):
    pid, path = world.family_id, world.attachment_path
    response, rows = audited(world, "get", f"/v1/med/profiles/{pid}/attachments?path={path}")
    assert response.status_code == 200
    assert rows == {("attachment", "read", path, None, "success")}
    response, rows = audited(world, "post", f"/v1/med/profiles/{pid}/attachments", {"file": "eA=="})
    assert response.status_code == 200, response.content
    new_path = response.json()["path"]
    assert rows == {("attachment", "create", new_path, pid, "success")}
    response, rows = audited(world, "delete", f"/v1/med/profiles/{pid}/attachments?path={new_path}")
    assert response.status_code == 200, response.content
    assert rows == {("attachment", "delete", new_path, None, "success")}


def test_avatar_reads_and_writes_are_audited(world):
    pid = world.family_id
    response, rows = audited(world, "get", f"/v1/med/profiles/{pid}/avatar?path={world.avatar}")
    assert response.status_code == 200
    assert rows == {("avatar", "read", str(pid), pid, "success")}
    body = {"file": data_url("avatar.png"), "filename": "0.7.png", "type": "image/png"}
    response, rows = audited(world, "post", f"/v1/med/profiles/{pid}/avatar", body)
    assert response.status_code == 200, response.content
    assert rows == {("avatar", "update", str(pid), pid, "success")}


def test_profile_create_update_and_delete_are_audited(alice, client_for):
    from tests.records.test_api_user import onboarding_body

    client = client_for(alice)
    assert (
        client.post("/v1/account/onboarding", onboarding_body(), format="json").status_code == 200
    )
    world = World(alice, client, uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), "", "")
    body = {
        "fullName": "Kid",
        "publicKey": "-----BEGIN PUBLIC KEY-----\nS0lE\n-----END PUBLIC KEY-----",
        "privateKey": "RU5DUllQVEVE" * 20,
        "key_hash": "$2a$10$" + "x" * 53,
    }
    response, rows = audited(world, "post", "/v1/med/profiles", body)
    assert response.status_code == 200, response.content
    pid = uuid.UUID(response.json()[0]["id"])
    assert rows == {
        ("profile", "create", str(pid), pid, "success"),
        ("private_key", "create", str(pid), pid, "success"),
    }
    response, rows = audited(world, "patch", f"/v1/med/profiles/{pid}", {"fullName": "Kiddo"})
    assert response.status_code == 200, response.content
    assert rows == {("profile", "update", str(pid), pid, "success")}
    response, rows = audited(world, "delete", f"/v1/med/profiles/{pid}")
    assert response.status_code == 200, response.content
    assert rows == {("profile", "delete", str(pid), pid, "success")}


def test_link_deletes_are_audited(world, bob):
    from mediqom.records.models import ProfileLink

    ProfileLink.objects.create(parent_id=world.id, profile_id=bob.id, status="approved")
    response, rows = audited(world, "delete", f"/v1/med/profiles/{bob.id}")
    assert response.status_code == 200, response.content
    assert rows == {("profile_link", "delete", "", bob.id, "success")}
    ProfileLink.objects.create(parent_id=bob.id, profile_id=world.id, status="approved")
    response, rows = audited(world, "delete", f"/v1/med/profiles/{bob.id}?link_type=parent")
    assert response.status_code == 200, response.content
    assert rows == {("profile_link", "delete", "", world.id, "success")}


def test_private_key_reads_and_writes_are_audited(world):
    response, rows = audited(world, "get", "/v1/med/user")
    assert response.status_code == 200
    assert rows == {("private_key", "read", str(world.id), world.id, "success")}
    new = {
        "newCredentials": {
            "privateKey": "bmV3" * 50,
            "key_hash": "$2a$10$CwTycUXWue0Thq9StjUM0uJ8.Dq0wQdH8S1yM7bx2hE/3sYxXg1yO",
            "key_derivation_method": "passphrase",
        }
    }
    response, rows = audited(world, "post", "/v1/settings/encryption", new)
    assert response.status_code == 200, response.content
    assert rows == {("private_key", "update", str(world.id), world.id, "success")}


# ----------------------------------------------------------- same transaction as the access


@pytest.fixture
def failing_commit(transactional_db: None) -> Iterator[str]:
    """A deferred constraint trigger that fails the COMMIT of any transaction which wrote a
    document whose metadata is the returned marker (a failure after the access, at the very
    end of the request). Dropped again afterwards (flush keeps triggers)."""
    marker = "RkFJTC1BVC1DT01NSVQ="
    with connection.cursor() as cursor:
        cursor.execute(
            f"""create or replace function public.test_fail_at_commit() returns trigger
            language plpgsql as $$ begin
              if new.metadata = '{marker}' then raise exception 'failing at commit'; end if;
              return null; end $$;
            create constraint trigger test_fail_at_commit after insert or update on documents
              deferrable initially deferred for each row
              execute function public.test_fail_at_commit();"""
        )
    yield marker
    with connection.cursor() as cursor:
        cursor.execute(
            "drop trigger if exists test_fail_at_commit on documents;"
            " drop function if exists public.test_fail_at_commit();"
        )


def test_a_request_that_fails_after_the_access_leaves_no_audit_row_and_no_change(
    failing_commit, alice, client_for, local_storage
):
    world = build_world(alice, client_for(alice))
    pid, did = world.family_id, world.family_document_id
    before = snapshot(local_storage)
    audit_rows = AuditEvent.objects.count()
    client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {token_for(alice)}")
    response = client.put(
        f"/v1/med/profiles/{pid}/documents/{did}",
        {"metadata": failing_commit, "content": "Yw=="},
        content_type="application/json",
        HTTP_X_REQUEST_ID="req-fails-at-commit",
    )
    assert response.status_code == 500
    assert response.json()["code"] == "server_error"
    assert snapshot(local_storage) == before
    assert not AuditEvent.objects.filter(request_id="req-fails-at-commit").exists()
    assert AuditEvent.objects.count() == audit_rows
    # the same request without the failure is audited and changes the document
    ok = world.client.put(
        f"/v1/med/profiles/{pid}/documents/{did}",
        {"metadata": "b2s=", "content": "Yw=="},
        format="json",
        HTTP_X_REQUEST_ID="req-commits",
    )
    assert ok.status_code == 200, ok.content
    assert AuditEvent.objects.filter(request_id="req-commits", action="update").count() == 1
    assert Document.objects.get(pk=did).metadata == "b2s="


# ----------------------------------------------------------- the trail is private


def test_bob_reads_none_of_alices_audit_or_recovery_rows(world, bob):
    RecoveryAttempt.objects.create(user_id=world.id, attempt_type="encryption_method_change")
    RecoveryAttempt.objects.create(user_id=bob.id, attempt_type="encryption_method_change")
    AuditEvent.objects.create(actor_id=bob.id, record_type="document", action="read")
    assert AuditEvent.objects.filter(actor_id=world.id).exists()
    with rls_context(bob):
        assert set(AuditEvent.objects.values_list("actor_id", flat=True)) == {bob.id}
        assert set(RecoveryAttempt.objects.values_list("user_id", flat=True)) == {bob.id}
        assert not AuditEvent.objects.filter(actor_id=world.id).exists()
    with rls_context(world.user):
        assert set(AuditEvent.objects.values_list("actor_id", flat=True)) == {world.id}
        assert set(RecoveryAttempt.objects.values_list("user_id", flat=True)) == {world.id}
