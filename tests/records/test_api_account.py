"""POST /v1/user/language and DELETE /v1/user/delete (contract §2.5, §11.3 item 4)."""

from __future__ import annotations

import uuid

import pytest

from mediqom.records.models import Document, Key, Profile, ProfileLink, Subscription
from tests.conftest import ok
from tests.records.conftest import build_world, data_url, document_body, stored_files
from tests.records.supabase_stub import running_stub

pytestmark = pytest.mark.django_db


def test_it_sets_the_language(alice, client_for):
    response = client_for(alice).post("/v1/user/language", {"language": "de"}, format="json")
    assert (response.status_code, response.json()) == (200, {"success": True})
    assert Profile.objects.get(pk=alice.id).language == "de"


@pytest.mark.parametrize("body", [{"language": "fr"}, {"language": 1}, {}, {"lang": "en"}])
def test_it_refuses_other_languages_with_the_legacy_error(alice, client_for, body):
    response = client_for(alice).post("/v1/user/language", body, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "message": "Invalid language",
        "code": "invalid_language",
        "fields": {},
        "success": False,
        "error": "Invalid language",
    }
    assert Profile.objects.get(pk=alice.id).language == "cs"


def test_malformed_json_is_a_legacy_400(alice, client_for):
    response = client_for(alice).post(
        "/v1/user/language", data="{", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["success"] is False
    assert response.json()["error"] == "Malformed JSON body"


def test_deleting_an_account_leaves_other_users_alone(
    world, bob, client_for, local_storage, django_capture_on_commit_callbacks
):
    bob_client = client_for(bob)
    bob_file = ok(
        bob_client.post(f"/v1/med/profiles/{bob.id}/attachments", {"file": "Ym9i"}, format="json")
    ).json()
    bob_doc = ok(
        bob_client.post(
            f"/v1/med/profiles/{bob.id}/documents",
            document_body(author=bob.id, profile=bob.id, attachments=[bob_file]),
            format="json",
        )
    ).json()["id"]
    # Alice is an approved parent of Bob and wrote a document into his profile
    ProfileLink.objects.create(parent_id=world.id, profile_id=bob.id, status="approved")
    alice_file = ok(
        world.client.post(
            f"/v1/med/profiles/{bob.id}/attachments", {"file": "YWxpY2U="}, format="json"
        )
    ).json()
    alice_in_bob = ok(
        world.client.post(
            f"/v1/med/profiles/{bob.id}/documents",
            document_body(author=world.id, profile=bob.id, attachments=[alice_file]),
            format="json",
        )
    ).json()["id"]

    with django_capture_on_commit_callbacks(execute=True):
        response = world.client.delete("/v1/user/delete")
        assert response.status_code == 200, response.content
    assert response.json() == {"success": True, "message": "Account deleted successfully"}

    # Alice's own files are gone, except the one her document in Bob's profile still uses
    assert stored_files(local_storage) == {
        f"attachments/{bob_file['path']}",
        f"attachments/{alice_file['path']}",
    }
    assert set(Profile.objects.values_list("id", flat=True)) == {bob.id}
    assert not Subscription.objects.filter(pk=world.id).exists()
    assert not ProfileLink.objects.exists()
    assert set(Document.objects.values_list("id", flat=True)) == {
        uuid.UUID(bob_doc),
        uuid.UUID(alice_in_bob),
    }
    # Alice's own grants are gone with her profile; Bob keeps his grant on both documents
    assert set(Key.objects.values_list("user_id", flat=True)) == {bob.id}
    assert bob_client.get(f"/v1/med/profiles/{bob.id}/documents").status_code == 200
    kept = bob_client.get(f"/v1/med/profiles/{world.id}/attachments?path={alice_file['path']}")
    assert (kept.status_code, kept.content) == (200, b"YWxpY2U=")


def test_the_queryset_layer_alone_deletes_only_the_callers_data(
    rls_disabled, alice, bob, client_for, local_storage
):
    world_b = build_world(bob, client_for(bob))
    before = stored_files(local_storage)
    assert client_for(alice).delete("/v1/user/delete").status_code == 200
    assert stored_files(local_storage) == before
    assert Profile.objects.filter(pk__in=[bob.id, world_b.family_id]).count() == 2
    assert Document.objects.filter(profile_id__in=[bob.id, world_b.family_id]).count() == 4


def test_with_supabase_it_deletes_storage_objects_and_the_auth_user(alice, client_for, settings):
    with running_stub() as stub:
        settings.SUPABASE_URL = stub.url
        settings.SUPABASE_SERVICE_ROLE_KEY = "service-role-key"
        settings.MEDIQOM_STORAGE_BACKEND = "supabase"
        client = client_for(alice)
        world = build_world(alice, client)
        assert set(stub.objects) == {
            ("attachments", world.attachment_path),
            ("avatars", f"{world.family_id}_{world.avatar}"),
        }
        stub.objects[("avatars", f"{alice.id}_stale.png")] = (b"x", "image/png")
        response = client.delete("/v1/user/delete")
        assert response.status_code == 200, response.content
        assert stub.objects == {}
        assert stub.deleted_users == [str(alice.id)]
        assert not Profile.objects.filter(pk=alice.id).exists()


def test_a_storage_failure_deletes_nothing_and_answers_a_legacy_503(alice, client_for, settings):
    with running_stub() as stub:
        settings.SUPABASE_URL = stub.url
        settings.SUPABASE_SERVICE_ROLE_KEY = "service-role-key"
        settings.MEDIQOM_STORAGE_BACKEND = "supabase"
        client = client_for(alice)
        ok(
            client.post(
                f"/v1/med/profiles/{alice.id}/avatar",
                {"file": data_url("avatar.png"), "filename": "a.png"},
                format="json",
            )
        )
        stub.fail_storage = True
        response = client.delete("/v1/user/delete")
        assert response.status_code == 503
        assert response.json()["success"] is False
        assert response.json()["error"] == "File storage is unavailable"
        assert Profile.objects.filter(pk=alice.id).exists()
        assert stub.deleted_users == []


@pytest.mark.sqlite_ok
def test_account_deletion_erases_import_jobs_streams_and_billing_rows(alice, bob, client_for):
    """Tables that point at profiles without a Django foreign key are erased too, on PostgreSQL
    and on SQLite alike; the other user's rows stay."""
    from imports_app.models import ImportJob
    from mediqom.billing.models import BetaApplication, CheckoutSession, PurchaseEvent
    from mediqom.streams.models import Stream, StreamEvent
    from mediqom.streams.services import stream_append

    for user in (alice, bob):
        ImportJob.objects.create(user_id=user.id)
        stream_append(
            key=f"session:{uuid.uuid4()}", owner_id=user.id, payload={"type": "x", "data": {}}
        )
        CheckoutSession.objects.create(id=f"cs_{user.id.hex}", user_id=user.id, mode="payment")
        PurchaseEvent.objects.create(user_id=user.id, event_type="pack_purchased", source="x")
    application = BetaApplication.objects.create(
        profile_id=alice.id,
        user_type="family",
        problem_description="-",
        current_solution="-",
        data_volume="1-10",
        timeline="week",
        name="A",
        email="a@example.test",
        country="CZ",
        language="en",
    )

    ok(client_for(alice).delete("/v1/user/delete"))

    assert list(ImportJob.objects.values_list("user_id", flat=True)) == [bob.id]
    assert list(Stream.objects.values_list("owner_id", flat=True)) == [bob.id]
    assert list(StreamEvent.objects.values_list("owner_id", flat=True)) == [bob.id]
    assert list(CheckoutSession.objects.values_list("user_id", flat=True)) == [bob.id]
    assert list(PurchaseEvent.objects.values_list("user_id", flat=True)) == [bob.id]
    application.refresh_from_db()
    assert application.profile_id is None
