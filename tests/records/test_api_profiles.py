"""Profiles (contract §2.5, §5.5 fixed): family profiles, the profile limit, rename, unlink."""

from __future__ import annotations

import pytest

from mediqom.audit.models import AuditEvent
from mediqom.records.models import Document, Key, PrivateKey, Profile, ProfileLink, Subscription
from tests.conftest import ok
from tests.records.conftest import NOT_FOUND, PEM_CHILD, data_url, stored_files

pytestmark = pytest.mark.django_db


def family_body(name: str = "Kid", **overrides):
    body = {
        "fullName": name,
        "language": "de",
        "publicKey": PEM_CHILD,
        "privateKey": "RU5D" * 50,
        "key_hash": "$2a$10$" + "z" * 53,
        "key_pass": "p@ss",
    }
    body.update(overrides)
    return body


def test_it_creates_a_family_profile_with_key_and_approved_link(alice, client_for):
    response = client_for(alice).post("/v1/med/profiles", family_body(), format="json")
    assert response.status_code == 200
    [row] = response.json()
    profile = Profile.objects.get(pk=row["id"])
    assert (profile.owner_id, profile.auth_id, profile.language) == (alice.id, None, "de")
    key = PrivateKey.objects.get(pk=profile.pk)
    assert (key.private_key, key.key_pass) == ("RU5D" * 50, "p@ss")
    link = ProfileLink.objects.get(profile=profile)
    assert (link.parent_id, link.status) == (alice.id, "approved")
    assert AuditEvent.objects.filter(record_type="private_key", action="create").count() == 1


@pytest.mark.parametrize("missing", ["fullName", "publicKey", "privateKey", "key_hash"])
def test_it_refuses_incomplete_profiles_and_stores_nothing(alice, client_for, missing):
    body = family_body()
    del body[missing]
    response = client_for(alice).post("/v1/med/profiles", body, format="json")
    assert response.status_code == 400
    assert missing in response.json()["fields"]
    assert not Profile.objects.filter(owner_id=alice.id).exclude(pk=alice.id).exists()


def test_the_free_tier_allows_one_family_profile(alice, client_for):
    client = client_for(alice)
    assert client.post("/v1/med/profiles", family_body("One"), format="json").status_code == 200
    response = client.post("/v1/med/profiles", family_body("Two"), format="json")
    assert response.status_code == 403
    assert response.json()["message"] == "Profile limit reached (1/1)"
    assert response.json()["code"] == "profile_limit_reached"
    assert Profile.objects.filter(owner_id=alice.id, auth_id__isnull=True).count() == 1


@pytest.mark.parametrize(("tier", "allowed"), [("caretaker", 3), ("family", 6)])
def test_paid_tiers_count_owned_virtual_profiles(alice, bob, client_for, tier, allowed):
    Subscription.objects.create(id=alice.id, tier_id=tier)
    Profile.objects.create(full_name="Bob's kid", owner_id=bob.id)  # not Alice's: not counted
    client = client_for(alice)
    for index in range(allowed):
        response = client.post("/v1/med/profiles", family_body(f"K{index}"), format="json")
        assert response.status_code == 200, (index, response.content)
    subscription = ok(client.get("/v1/billing/subscription")).json()
    assert subscription["profile_count"] == allowed
    if tier == "caretaker":
        assert client.post("/v1/med/profiles", family_body(), format="json").status_code == 403
        assert subscription["can_create_profile"] is False
    else:
        assert subscription["can_create_profile"] is True


def test_it_returns_the_callers_link_to_a_profile(alice, bob, client_for):
    ProfileLink.objects.create(parent_id=alice.id, profile_id=bob.id, status="request")
    response = client_for(alice).get(f"/v1/med/profiles/{bob.id}")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "profiles": {
            "id": str(bob.id),
            "fullName": None,
            "language": "cs",
            "avatarUrl": None,
            "publicKey": None,
        },
        "status": "request",
    }
    # Bob does not have the reverse link
    assert ok(client_for(bob).get(f"/v1/med/profiles/{alice.id}"), 404).json() == NOT_FOUND


def test_it_renames_own_and_owned_profiles_only(alice, bob, client_for):
    client = client_for(alice)
    kid = ok(client.post("/v1/med/profiles", family_body(), format="json")).json()[0]["id"]
    assert (
        ok(client.patch(f"/v1/med/profiles/{kid}", {"fullName": "Kiddo"}, format="json")).json()[
            "fullName"
        ]
        == "Kiddo"
    )
    me = client.patch(f"/v1/med/profiles/{alice.id}", {"fullName": "Alice B"}, format="json")
    assert (me.status_code, me.json()["fullName"]) == (200, "Alice B")
    # Bob's real profile is linked under Alice: visible, but not hers to rename
    ProfileLink.objects.create(parent_id=alice.id, profile_id=bob.id, status="approved")
    response = client.patch(f"/v1/med/profiles/{bob.id}", {"fullName": "X"}, format="json")
    assert response.status_code == 403
    assert Profile.objects.get(pk=bob.id).full_name is None


@pytest.mark.parametrize("value", ["", 42, None, ["a"]])
def test_rename_needs_a_full_name_string(alice, client_for, value):
    response = client_for(alice).patch(
        f"/v1/med/profiles/{alice.id}", {"fullName": value}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["message"] == "fullName: Invalid fullName"


def test_deleting_a_family_profile_removes_everything_under_it(
    world, local_storage, django_capture_on_commit_callbacks
):
    client = world.client
    family = world.family_id
    assert f"avatars/{family}_{world.avatar}" in stored_files(local_storage)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.delete(f"/v1/med/profiles/{family}")
        assert response.status_code == 200, response.content
    assert response.json() == {"message": "Profile links and profile removed"}
    assert not Profile.objects.filter(pk=family).exists()
    assert not PrivateKey.objects.filter(pk=family).exists()
    assert not ProfileLink.objects.filter(profile_id=family).exists()
    assert not Document.objects.filter(profile_id=family).exists()
    assert not Key.objects.filter(owner_id=family).exists()
    # its avatar and the attachment its document referred to are gone after commit
    assert f"avatars/{family}_{world.avatar}" not in stored_files(local_storage)
    assert f"attachments/{world.attachment_path}" not in stored_files(local_storage)
    assert Document.objects.filter(profile_id=world.id).exists()


def test_deleting_a_linked_real_profile_only_unlinks(alice, bob, client_for):
    ProfileLink.objects.create(parent_id=alice.id, profile_id=bob.id, status="approved")
    response = client_for(alice).delete(f"/v1/med/profiles/{bob.id}")
    assert response.status_code == 200, response.content
    assert response.json() == {"message": "Profile link removed"}
    assert Profile.objects.filter(pk=bob.id).exists()
    assert not ProfileLink.objects.exists()


def test_a_child_removes_a_parent_link(alice, bob, client_for):
    ProfileLink.objects.create(parent_id=alice.id, profile_id=bob.id, status="approved")
    response = client_for(bob).delete(f"/v1/med/profiles/{alice.id}?link_type=parent")
    assert response.status_code == 200, response.content
    assert response.json() == {"message": "Profile link removed"}
    assert not ProfileLink.objects.exists()
    again = client_for(bob).delete(f"/v1/med/profiles/{alice.id}?link_type=parent")
    assert (again.status_code, again.json()) == (404, NOT_FOUND)


def test_bob_cannot_delete_alices_family_profile_even_when_linked_to_it(alice, bob, client_for):
    kid = ok(client_for(alice).post("/v1/med/profiles", family_body(), format="json")).json()[0][
        "id"
    ]
    ProfileLink.objects.create(parent_id=bob.id, profile_id=kid, status="approved")
    response = client_for(bob).delete(f"/v1/med/profiles/{kid}")
    assert response.status_code == 200, response.content
    assert response.json() == {"message": "Profile link removed"}  # his link only
    assert Profile.objects.filter(pk=kid).exists()
    assert ProfileLink.objects.filter(parent_id=alice.id, profile_id=kid).exists()


def test_a_family_avatar_is_uploaded_by_its_owner(world, bob, client_for):
    ProfileLink.objects.create(parent_id=bob.id, profile_id=world.family_id, status="approved")
    body = {"file": data_url("avatar.gif", "image/gif"), "filename": "b.gif", "type": "image/gif"}
    response = client_for(bob).post(
        f"/v1/med/profiles/{world.family_id}/avatar", body, format="json"
    )
    assert response.status_code == 403  # Bob sees the profile through his link, may not change it


@pytest.mark.parametrize("link_type", ["parnet", "", "PARENT"])
def test_an_unknown_link_type_is_a_400_and_deletes_nothing(world, link_type):
    """A typo must not fall back to "delete the family profile" (found by schemathesis)."""
    response = world.client.delete(f"/v1/med/profiles/{world.family_id}?link_type={link_type}")
    assert response.status_code == 400, response.content
    assert response.json() == {
        "message": "Invalid link_type",
        "code": "invalid_query",
        "fields": {"link_type": ["Must be one of: parent"]},
    }
    assert Profile.objects.filter(pk=world.family_id).exists()
    assert ProfileLink.objects.filter(profile_id=world.family_id).exists()
