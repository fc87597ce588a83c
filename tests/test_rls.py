"""The database layer alone: PostgreSQL row-level security with for_user() bypassed."""

from __future__ import annotations

import json

import pytest
from django.db import DatabaseError, connection, transaction

from mediqom.audit.models import AuditEvent
from mediqom.db.rls import rls_context
from mediqom.records.models import Document, Key, PrivateKey, Profile, ProfileLink
from tests.conftest import USER_TABLES

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_records(alice):
    """Alice's profile data as the server itself stores it (outside any RLS context)."""
    Profile.objects.filter(pk=alice.id).update(full_name="Alice", public_key="PUB")
    PrivateKey.objects.create(profile_id=alice.id, private_key="ENC", key_hash="$2a$10$x")
    child = Profile.objects.create(full_name="Alice's child", owner_id=alice.id)
    PrivateKey.objects.create(profile=child, private_key="ENC2", key_hash="h")
    ProfileLink.objects.create(parent_id=alice.id, profile=child, status="approved")
    document = Document.objects.create(
        profile_id=alice.id, type="document", metadata="M", content="C", author_id=alice.id
    )
    Key.objects.create(
        document=document, owner_id=alice.id, user_id=alice.id, key="K", author_id=alice.id
    )
    return {"child": child, "document": document}


def test_every_user_owned_table_has_rls_enabled():
    with connection.cursor() as cursor:
        cursor.execute(
            "select relname from pg_class where relname = any(%s) and relrowsecurity",
            [USER_TABLES],
        )
        enabled = {row[0] for row in cursor.fetchall()}
    assert enabled == set(USER_TABLES)


def test_every_policy_column_is_indexed():
    wanted = {
        ("profiles", "owner_id"),
        ("profiles_links", "parent_id"),
        ("profiles_links", "profile_id"),
        ("documents", "user_id"),
        ("documents", "author_id"),
        ("keys", "user_id"),
        ("keys", "document_id"),
        ("keys", "owner_id"),
        ("keys", "author_id"),
        ("recovery_attempts", "user_id"),
        ("audit_log", "actor_id"),
    }
    with connection.cursor() as cursor:
        cursor.execute(
            """select t.relname, a.attname from pg_index i
               join pg_class t on t.oid = i.indrelid
               join pg_attribute a on a.attrelid = t.oid and a.attnum = i.indkey[0]
               where t.relname = any(%s)""",
            [USER_TABLES],
        )
        indexed = set(cursor.fetchall())
    assert wanted <= indexed, wanted - indexed


def test_rls_alone_hides_alices_rows_from_bob(alice_records, bob):
    with rls_context(bob):
        assert not Profile.objects.exclude(pk=bob.id).exists()
        assert not PrivateKey.objects.exists()
        assert not ProfileLink.objects.exists()
        assert not Document.objects.exists()
        assert not Key.objects.exists()
        assert Profile.objects.filter(pk=alice_records["child"].pk).update(full_name="x") == 0
        assert Document.objects.filter(pk=alice_records["document"].pk).delete()[0] == 0
    # outside the context the server sees everything again, unchanged
    assert Profile.objects.get(pk=alice_records["child"].pk).full_name == "Alice's child"
    assert Document.objects.filter(pk=alice_records["document"].pk).exists()


def test_rls_alone_shows_alice_her_own_rows(alice_records, alice):
    with rls_context(alice):
        assert set(Profile.objects.values_list("pk", flat=True)) == {
            alice.id,
            alice_records["child"].pk,
        }
        assert PrivateKey.objects.count() == 2
        assert list(Document.objects.values_list("pk", flat=True)) == [alice_records["document"].pk]


def test_rls_refuses_inserts_outside_the_callers_scope(alice_records, bob):
    document = alice_records["document"]
    with rls_context(bob):
        with pytest.raises(DatabaseError) as raised, transaction.atomic():
            Key.objects.create(
                document=document,
                owner_id=document.profile_id,
                user_id=bob.id,
                key="stolen",
                author_id=bob.id,
            )
        assert "row-level security" in str(raised.value)
        with pytest.raises(DatabaseError), transaction.atomic():
            Document.objects.create(profile_id=document.profile_id, metadata="M", author_id=bob.id)
        with pytest.raises(DatabaseError), transaction.atomic():
            AuditEvent.objects.create(
                actor_id=document.profile_id, record_type="document", action="read"
            )
    assert Key.objects.filter(document=document).count() == 1


def test_the_role_and_claims_do_not_outlive_the_context(alice):
    with rls_context(alice), connection.cursor() as cursor:
        cursor.execute("select current_user, auth.uid()")
        assert cursor.fetchone() == ("authenticated", alice.id)
    with connection.cursor() as cursor:
        cursor.execute("select current_user <> 'authenticated', auth.uid()")
        assert cursor.fetchone() == (True, None)


@pytest.mark.django_db(transaction=True)
def test_auth_uid_treats_an_emptied_claims_setting_as_no_user(alice):
    """A pooled connection keeps request.jwt.claims defined as '' after a transaction that set
    it locally; auth.uid() must read that as NULL instead of failing on bad JSON."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "select set_config('request.jwt.claims', %s, true)",
            [json.dumps({"sub": str(alice.id)})],
        )
    with connection.cursor() as cursor:
        cursor.execute("select current_setting('request.jwt.claims', true), auth.uid()")
        assert cursor.fetchone() == ("", None)


def test_the_authenticated_role_sees_nothing_without_claims(alice_records):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("select set_config('role', 'authenticated', true)")
        cursor.execute("select count(*) from documents")
        assert cursor.fetchone() == (0,)
        cursor.execute("select set_config('role', 'none', true)")


def test_deleting_a_document_removes_grants_the_deleter_cannot_see(alice_records, alice, bob):
    """Foreign keys cascade in the database, so RLS-invisible grants do not block deletes."""
    document = alice_records["document"]
    Key.objects.create(
        document=document, owner_id=alice.id, user_id=bob.id, key="for bob", author_id=bob.id
    )
    with rls_context(alice):
        assert Document.objects.filter(pk=document.pk).delete()[0] == 1
    assert not Document.objects.filter(pk=document.pk).exists()
    assert not Key.objects.filter(document_id=document.pk).exists()
