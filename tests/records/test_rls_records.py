"""The database layer alone: with plain `Model.objects` (no for_user()) inside Bob's RLS context,
none of Alice's records can be seen, changed or deleted, and inserts that break the policies
fail with SQLSTATE 42501."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction

from mediqom.db.rls import rls_context
from mediqom.records.models import (
    Document,
    Key,
    PrivateKey,
    Profile,
    ProfileLink,
    Subscription,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="RLS is PostgreSQL only"),
]


@pytest.fixture
def alice_data(alice: Any) -> dict[str, Any]:
    """Alice's records as the server stores them (outside any RLS context)."""
    Profile.objects.filter(pk=alice.id).update(full_name="Alice", public_key="PUB")
    PrivateKey.objects.create(profile_id=alice.id, private_key="ENC", key_hash="h")
    child = Profile.objects.create(full_name="Child", owner_id=alice.id)
    keyless_child = Profile.objects.create(full_name="Keyless", owner_id=alice.id)
    PrivateKey.objects.create(profile=child, private_key="ENC2", key_hash="h", key_pass="pass")
    ProfileLink.objects.create(parent_id=alice.id, profile=child, status="approved")
    ProfileLink.objects.create(parent_id=alice.id, profile_id=alice.id, status="approved")
    documents = []
    for profile_id in (alice.id, child.pk):
        document = Document.objects.create(
            profile_id=profile_id, type="document", metadata="M", content="C", author_id=alice.id
        )
        Key.objects.create(
            document=document, owner_id=profile_id, user_id=alice.id, key="K", author_id=alice.id
        )
        documents.append(document)
    Subscription.objects.create(id=alice.id, tier_id="family", scans_base=200)
    return {"child": child, "keyless_child": keyless_child, "documents": documents}


def alice_querysets(alice: Any, data: dict[str, Any]) -> dict[str, Any]:
    profile_ids = [alice.id, data["child"].pk, data["keyless_child"].pk]
    return {
        "profiles": Profile.objects.filter(pk__in=profile_ids),
        "private_keys": PrivateKey.objects.filter(profile_id__in=profile_ids),
        "links": ProfileLink.objects.filter(parent_id=alice.id),
        "documents": Document.objects.filter(profile_id__in=profile_ids),
        "keys": Key.objects.filter(user_id=alice.id),
        "subscriptions": Subscription.objects.filter(pk=alice.id),
    }


UPDATES = {
    "profiles": {"full_name": "Mallory"},
    "private_keys": {"private_key": "STOLEN"},
    "links": {"status": "request"},
    "documents": {"metadata": "X"},
    "keys": {"key": "X"},
    "subscriptions": {"scans_credits": 9999},
}


def test_bob_sees_none_of_alices_rows(alice, bob, alice_data):
    with rls_context(bob):
        for name, queryset in alice_querysets(alice, alice_data).items():
            assert list(queryset) == [], name
        # …while his own profile stays visible (the policies do not simply deny everything)
        assert list(Profile.objects.values_list("id", flat=True)) == [bob.id]


@pytest.mark.parametrize("name", list(UPDATES))
def test_bob_updates_none_of_alices_rows(alice, bob, alice_data, name):
    with rls_context(bob):
        assert alice_querysets(alice, alice_data)[name].update(**UPDATES[name]) == 0
    # as the server: nothing changed
    assert not alice_querysets(alice, alice_data)[name].filter(**UPDATES[name]).exists()


@pytest.mark.parametrize("name", list(UPDATES))
def test_bob_deletes_none_of_alices_rows(alice, bob, alice_data, name):
    counts = {key: qs.count() for key, qs in alice_querysets(alice, alice_data).items()}
    with rls_context(bob):
        deleted, _ = alice_querysets(alice, alice_data)[name].delete()
        assert deleted == 0
    assert {key: qs.count() for key, qs in alice_querysets(alice, alice_data).items()} == counts


def refused(action: Callable[[], Any]) -> None:
    with pytest.raises(DatabaseError) as info, transaction.atomic():
        action()
    assert getattr(info.value.__cause__, "sqlstate", None) == "42501", info.value


def test_inserts_that_break_the_policies_are_refused(alice, bob, alice_data):
    alice_doc = alice_data["documents"][0]
    with rls_context(bob):
        own = Document.objects.create(
            profile_id=bob.id, type="document", metadata="M", content="C", author_id=bob.id
        )
        Key.objects.create(document=own, owner_id=bob.id, user_id=bob.id, key="K", author_id=bob.id)
        # a grant on his own document for a foreign target
        refused(
            lambda: Key.objects.create(
                document=own, owner_id=bob.id, user_id=alice.id, key="K", author_id=bob.id
            )
        )
        # a grant whose owner is not the document's profile
        refused(
            lambda: Key.objects.create(
                document=own, owner_id=alice.id, user_id=bob.id, key="K", author_id=bob.id
            )
        )
        # a grant for himself on Alice's document
        refused(
            lambda: Key.objects.create(
                document=alice_doc, owner_id=alice.id, user_id=bob.id, key="K", author_id=bob.id
            )
        )
        # a document in a profile he may not write, and one pretending Alice wrote it
        refused(
            lambda: Document.objects.create(
                profile_id=alice.id, type="document", metadata="M", author_id=bob.id
            )
        )
        refused(
            lambda: Document.objects.create(
                profile_id=bob.id, type="document", metadata="M", author_id=alice.id
            )
        )
        # a link to Alice's profiles, a profile owned by Alice, keys and quota for her
        refused(
            lambda: ProfileLink.objects.create(
                parent_id=bob.id, profile=alice_data["child"], status="approved"
            )
        )
        refused(lambda: Profile.objects.create(id=uuid.uuid4(), owner_id=alice.id))
        refused(
            lambda: PrivateKey.objects.create(
                profile=alice_data["keyless_child"], private_key="X", key_hash="h"
            )
        )
        refused(lambda: Subscription.objects.create(id=alice.id))
    assert Key.objects.filter(user_id=bob.id).count() == 1
    assert not Document.objects.filter(author_id=bob.id, profile_id=alice.id).exists()


def test_an_approved_parent_may_write_but_not_read_others_grants(alice, bob, alice_data):
    ProfileLink.objects.create(parent_id=bob.id, profile_id=alice.id, status="approved")
    with rls_context(bob):
        document = Document.objects.create(
            profile_id=alice.id, type="document", metadata="M", author_id=bob.id
        )
        Key.objects.create(
            document=document, owner_id=alice.id, user_id=alice.id, key="K", author_id=bob.id
        )
        Key.objects.create(
            document=document, owner_id=alice.id, user_id=bob.id, key="K", author_id=bob.id
        )
        assert list(Document.objects.values_list("id", flat=True)) == [document.pk]
        assert Document.objects.filter(pk=alice_data["documents"][0].pk).count() == 0


def test_a_grant_the_caller_wrote_for_someone_else_does_not_show_the_document(alice, bob):
    """documents_select asks for a grant *to* the caller: a key row Bob authored for Alice is
    visible to Bob (keys_select), the document it opens is not."""
    document = Document.objects.create(
        profile_id=alice.id, type="document", metadata="M", author_id=alice.id
    )
    grant = Key.objects.create(
        document=document, owner_id=alice.id, user_id=alice.id, key="K", author_id=bob.id
    )
    with rls_context(bob):
        assert list(Key.objects.values_list("id", flat=True)) == [grant.pk]
        assert not Document.objects.filter(pk=document.pk).exists()
    with rls_context(alice):
        assert Document.objects.filter(pk=document.pk).exists()


def test_a_document_is_changed_only_with_the_owner_grant(alice, bob, alice_data):
    """Bob holds a grant on Alice's document, but not one whose owner is its profile."""
    ProfileLink.objects.create(parent_id=bob.id, profile_id=alice.id, status="approved")
    document = alice_data["documents"][0]
    with rls_context(bob):
        own = Document.objects.create(
            profile_id=bob.id, type="document", metadata="M", author_id=bob.id
        )
        Key.objects.create(document=own, owner_id=bob.id, user_id=bob.id, key="K", author_id=bob.id)
    # the server (not Bob) wrote Bob a grant with a wrong owner on Alice's document
    Key.objects.create(document=document, owner_id=bob.id, user_id=bob.id, key="K",
                       author_id=alice.id)  # fmt: skip
    with rls_context(bob):
        assert Document.objects.filter(pk=document.pk).count() == 1  # readable
        assert Document.objects.filter(pk=document.pk).update(metadata="X") == 0
        assert Document.objects.filter(pk=document.pk).delete()[0] == 0
    assert Document.objects.get(pk=document.pk).metadata == "M"


# ------------------------------------------------- visible but not writable (separate policies)


def test_a_linked_profile_is_visible_but_neither_changed_nor_deleted(alice, bob):
    """profiles_select lets an approved parent see the profile; profiles_update/_delete do not
    let it change or remove it."""
    ProfileLink.objects.create(parent_id=bob.id, profile_id=alice.id, status="approved")
    child = Profile.objects.create(full_name="Child", owner_id=alice.id)
    ProfileLink.objects.create(parent_id=bob.id, profile=child, status="approved")
    both = Profile.objects.filter(pk__in=[alice.id, child.pk])
    names = dict(both.values_list("pk", "full_name"))
    with rls_context(bob):
        assert set(both.values_list("pk", flat=True)) == {alice.id, child.pk}
        assert both.update(full_name="X") == 0
        # (the ORM also deletes Bob's own link rows first, which he may; the profile stays)
        assert Profile.objects.filter(pk=child.pk).delete()[1].get("records.Profile", 0) == 0
    assert dict(both.values_list("pk", "full_name")) == names


def test_an_own_account_profile_is_changed_but_never_deleted_by_its_user(alice):
    """profiles_delete only covers virtual profiles: a user's own row goes with the account."""
    with rls_context(alice):
        assert Profile.objects.filter(pk=alice.id).update(full_name="Alice A.") == 1
        assert Profile.objects.filter(pk=alice.id).delete()[0] == 0
    assert Profile.objects.get(pk=alice.id).full_name == "Alice A."


def test_a_visible_key_grant_is_never_changed(alice, bob):
    """keys has no update policy: neither the addressee nor the author may rewrite a grant."""
    ProfileLink.objects.create(parent_id=bob.id, profile_id=alice.id, status="approved")
    document = Document.objects.create(
        profile_id=alice.id, type="document", metadata="M", author_id=alice.id
    )
    own = Key.objects.create(
        document=document, owner_id=alice.id, user_id=alice.id, key="K", author_id=alice.id
    )
    for_bob = Key.objects.create(
        document=document, owner_id=alice.id, user_id=bob.id, key="KB", author_id=alice.id
    )
    with rls_context(bob):
        assert list(Key.objects.values_list("pk", flat=True)) == [for_bob.pk]
        assert Key.objects.filter(pk=for_bob.pk).update(key="X") == 0
    with rls_context(alice):
        assert set(Key.objects.values_list("pk", flat=True)) == {own.pk, for_bob.pk}
        assert Key.objects.filter(pk__in=[own.pk, for_bob.pk]).update(key="X") == 0
    assert sorted(Key.objects.filter(document=document).values_list("key", flat=True)) == [
        "K",
        "KB",
    ]


def test_a_visible_link_is_never_changed(alice, bob):
    """profiles_links has no update policy: parent and child see a link, neither rewrites it
    (a requested link cannot be approved by updating it)."""
    link = ProfileLink.objects.create(parent_id=alice.id, profile_id=bob.id, status="request")
    for user in (alice, bob):
        with rls_context(user):
            assert list(ProfileLink.objects.values_list("pk", flat=True)) == [link.pk]
            assert ProfileLink.objects.filter(pk=link.pk).update(status="approved") == 0
    assert ProfileLink.objects.get(pk=link.pk).status == "request"


def test_the_document_read_policy_calls_no_function_per_row():
    """documents_select is an inline EXISTS the planner can join (migration 0008): a SECURITY
    DEFINER helper here ran once per document row and cost more than the rest of the read."""
    with connection.cursor() as cursor:
        cursor.execute(
            "select qual from pg_policies where tablename = 'documents'"
            " and policyname = 'documents_select'"
        )
        (qual,) = cursor.fetchone()
    assert "mediqom_private." not in qual
    assert "keys" in qual
    assert "auth.uid()" in qual
