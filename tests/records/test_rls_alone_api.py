"""Row-level security alone, through the API (PostgreSQL only; not in the SQLite pass).

The ORM scoping is switched off on purpose (`orm_scoping_off`: every `for_user()` returns all
rows, the other scoping helpers stop filtering by user). This is a deliberate fault injection
into the ORM layer, allowed here because it proves the OTHER layer: with RLS still on, every
foreign read and write of the cross-tenant matrix stays a 404 and changes nothing. Removing the
per-request `apply_rls()` (mediqom/api/base.py) makes these tests fail.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps
from django.db import connection
from django.db.models import BooleanField, QuerySet, Value

from tests.records.conftest import NOT_FOUND, World
from tests.records.test_cross_tenant import (
    ROUTE_NAMES,
    alice_ids,
    assert_bob_is_refused_like_a_random_id,
    call,
    snapshot,
)

pytestmark = pytest.mark.django_db


def _all(self: QuerySet[Any], *_args: Any) -> QuerySet[Any]:
    return self.all()


# The records scoping helpers besides for_user(), each made to stop filtering by user.
UNSCOPED_HELPERS: dict[str, Callable[..., Any]] = {
    "owned_by": _all,
    "owner_granted_to": _all,
    "in_visible_profile": lambda self, _user, profile_id: self.filter(profile_id=profile_id),
    "with_write_access": lambda self, _user: self.annotate(
        can_write=Value(True, output_field=BooleanField())
    ),
    "owned_virtual": lambda self, _user: self.filter(auth_id__isnull=True),
}


@pytest.fixture
def orm_scoping_off(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every model queryset's for_user() (and the records helpers) return every row."""
    patched: list[str] = []
    for model in apps.get_models():
        queryset_class = type(model._default_manager.get_queryset())
        for klass in queryset_class.__mro__:
            for name in ("for_user", *UNSCOPED_HELPERS):
                if name in vars(klass):
                    monkeypatch.setattr(klass, name, UNSCOPED_HELPERS.get(name, _all))
                    patched.append(f"{klass.__name__}.{name}")
    assert "ProfileQuerySet.for_user" in patched
    assert "DocumentQuerySet.for_user" in patched
    return patched


def test_the_fault_injection_really_unscopes_the_orm(world: World, bob: Any) -> None:
    """Without RLS (the server's own connection) the patched for_user() returns Alice's rows."""
    from mediqom.records.models import Document, Profile

    assert not Document.objects.for_user(bob).filter(pk=world.document_id).exists()
    patch = pytest.MonkeyPatch()
    try:
        for model in (Document, Profile):
            queryset_class = type(model._default_manager.get_queryset())
            patch.setattr(queryset_class, "for_user", _all)
        assert Document.objects.for_user(bob).filter(pk=world.document_id).exists()
        assert Profile.objects.for_user(bob).filter(pk=world.family_id).exists()
    finally:
        patch.undo()


@pytest.mark.parametrize("name", ROUTE_NAMES)
def test_rls_alone_refuses_bob_like_a_random_id(
    world, bob, client_for, local_storage, orm_scoping_off, name
):
    assert_bob_is_refused_like_a_random_id(world, bob, client_for, local_storage, name)


def test_rls_alone_keeps_alices_lists_out_of_bobs_answers(world, bob, client_for, orm_scoping_off):
    client = client_for(bob)
    profiles = client.get("/v1/med/profiles")
    assert profiles.status_code == 200
    assert str(world.id) not in profiles.content.decode()
    assert str(world.family_id) not in profiles.content.decode()
    user = client.get("/v1/med/user")
    assert user.status_code == 200
    assert user.json()["id"] == str(bob.id)
    own_documents = client.get(f"/v1/med/profiles/{bob.id}/documents")
    assert own_documents.status_code == 200
    assert own_documents.json() == []


def test_rls_alone_still_serves_alice_her_own_rows(
    world, client_for, local_storage, orm_scoping_off
):
    """The policies do not simply deny everything: the owner still reads and writes."""
    client = world.client
    before = snapshot(local_storage)
    listed = client.get(f"/v1/med/profiles/{world.family_id}/documents")
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()] == [str(world.family_document_id)]
    read = call(client, "document_get", alice_ids(world), world.id)
    assert read.status_code == 200, read.content
    assert read.json()["id"] == str(world.document_id)
    assert snapshot(local_storage) == before
    renamed = client.patch(
        f"/v1/med/profiles/{world.family_id}", {"fullName": "Renamed"}, format="json"
    )
    assert renamed.status_code == 200, renamed.content
    gone = client.get(f"/v1/med/profiles/{uuid.uuid4()}")
    assert (gone.status_code, gone.json()) == (404, NOT_FOUND)


# Tables a request reaches only as the caller (`profiles` is also read with the server's rights
# when authentication makes sure the caller's first-login profile exists).
PROBED_TABLES = ("documents", "keys", "profiles_links", "private_keys")


def test_inside_a_request_the_database_acts_as_the_caller(world, bob, client_for):
    """Every query a request runs on these tables runs as `authenticated` with the caller's
    uid (observed on the request's own connection, not assumed from the code)."""
    seen: list[tuple[Any, ...]] = []
    probing = False

    def spy(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal probing
        if not probing and any(f'"{table}"' in sql for table in PROBED_TABLES):
            probing = True
            try:
                with connection.cursor() as cursor:
                    cursor.execute("select current_user, auth.uid(), current_setting('role', true)")
                    seen.append(cursor.fetchone())
            finally:
                probing = False
        return execute(sql, params, many, context)

    for user, url in [
        (world.user, f"/v1/med/profiles/{world.id}/documents"),
        (bob, f"/v1/med/profiles/{bob.id}/documents"),
        (bob, f"/v1/med/profiles/{world.family_id}"),
    ]:
        seen.clear()
        with connection.execute_wrapper(spy):
            response = client_for(user).get(url)
        assert response.status_code in (200, 404), response.content
        assert seen, url
        assert set(seen) == {("authenticated", user.id, "authenticated")}, (url, seen)
    # …and after the request the test's connection is the server's own again
    with connection.cursor() as cursor:
        cursor.execute("select current_user <> 'authenticated', auth.uid()")
        assert cursor.fetchone() == (True, None)
