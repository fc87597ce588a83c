"""Attachments and avatars (contract §2.5, §5.7, §11.1): path rules, grants, size, real images."""

from __future__ import annotations

import base64
import json
import uuid
from urllib.parse import urlencode

import pytest

from mediqom.audit.models import AuditEvent
from mediqom.records.models import Document, Profile, ProfileLink
from tests.conftest import ok
from tests.records.conftest import IMAGES, NOT_FOUND, data_url, document_body, stored_files

pytestmark = pytest.mark.django_db


def upload(client, pid, file="ZW5j"):
    return client.post(f"/v1/med/profiles/{pid}/attachments", {"file": file}, format="json")


# ---------------------------------------------------------------- attachments


def test_an_upload_is_stored_under_the_callers_prefix_as_text(alice, client_for, local_storage):
    response = upload(client_for(alice), alice.id, "QUJD\n")
    assert response.status_code == 200
    path = response.json()["path"]
    assert path.startswith(f"{alice.id}/")
    assert (local_storage / "attachments" / path).read_bytes() == b"QUJD\n"
    assert AuditEvent.objects.filter(record_type="attachment", action="create",
                                     record_id=path).exists()  # fmt: skip


def test_an_oversized_upload_is_a_413_and_stores_nothing(
    alice, client_for, settings, local_storage
):
    settings.MEDIQOM_MAX_UPLOAD_BYTES = 1024
    response = upload(client_for(alice), alice.id, "A" * 1025)
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"
    assert stored_files(local_storage) == set()


@pytest.mark.parametrize("file", ["", 123, None])
def test_an_upload_needs_a_non_empty_string(alice, client_for, local_storage, file):
    response = upload(client_for(alice), alice.id, file)
    assert response.status_code == 400
    assert "file" in response.json()["fields"]
    assert stored_files(local_storage) == set()


@pytest.mark.parametrize(
    "path",
    [
        "../../etc/passwd",
        "{me}/../{other}/abc",
        "{me}/..",
        "{me}/.hidden",
        "/{me}/abc",
        "{me}//abc",
        "{me}/abc/def",
        "{me}%2Fabc",
        "{me}/abc\x00",
        "{ME}/abc",
        "https://evil.example/{me}/abc",
    ],
)
def test_traversal_and_malformed_paths_are_404(alice, client_for, local_storage, path):
    client = client_for(alice)
    real = upload(client, alice.id).json()["path"]
    (local_storage / "secret.txt").write_text("top secret")
    path = path.format(me=alice.id, ME=str(alice.id).upper(), other=uuid.uuid4())
    query = urlencode({"path": path})
    for method in ("get", "delete"):
        response = getattr(client, method)(f"/v1/med/profiles/{alice.id}/attachments?{query}")
        assert (response.status_code, response.json()) == (404, NOT_FOUND), (method, path)
    assert f"attachments/{real}" in stored_files(local_storage)


def test_a_missing_path_is_a_400(alice, client_for):
    for method in ("get", "delete"):
        response = getattr(client_for(alice), method)(f"/v1/med/profiles/{alice.id}/attachments")
        assert response.status_code == 400
        assert response.json()["message"] == "Path parameter required"


def test_a_grant_opens_a_referenced_attachment_of_another_uploader(alice, bob, client_for):
    """Alice (approved parent) writes a document with an attachment into Bob's profile; Bob
    downloads it as the client does, with the uploader's id as {pid}."""
    ProfileLink.objects.create(parent_id=alice.id, profile_id=bob.id, status="approved")
    attachment = upload(client_for(alice), bob.id, "YmxvYg==").json()
    bob_client = client_for(bob)
    url = f"/v1/med/profiles/{alice.id}/attachments?path={attachment['path']}"
    assert bob_client.get(url).status_code == 404  # not referenced yet
    body = document_body(author=alice.id, profile=bob.id, attachments=[attachment])
    assert (
        client_for(alice)
        .post(f"/v1/med/profiles/{bob.id}/documents", body, format="json")
        .status_code
        == 200
    )
    response = bob_client.get(url)
    assert (response.status_code, response.content) == (200, b"YmxvYg==")
    # …but Bob may not delete Alice's upload
    assert bob_client.delete(url).status_code == 404
    assert client_for(alice).get(url).status_code == 200


@pytest.mark.parametrize("form", ["object", "json_text", "url", "path"])
def test_a_document_may_not_smuggle_in_a_foreign_attachment(alice, bob, client_for, form):
    attachment = upload(client_for(alice), alice.id, "c2VjcmV0").json()
    ref = {
        "object": attachment,
        "json_text": json.dumps(attachment),
        "url": attachment["url"],
        "path": attachment["path"],
    }[form]
    body = document_body(author=bob.id, profile=bob.id, attachments=[ref])
    response = client_for(bob).post(f"/v1/med/profiles/{bob.id}/documents", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_attachment"
    assert not Document.objects.filter(profile_id=bob.id).exists()
    url = f"/v1/med/profiles/{bob.id}/attachments?path={attachment['path']}"
    assert client_for(bob).get(url).status_code == 404


def test_an_update_may_keep_but_not_add_foreign_attachments(alice, bob, client_for):
    ProfileLink.objects.create(parent_id=alice.id, profile_id=bob.id, status="approved")
    attachment = upload(client_for(alice), bob.id).json()
    body = document_body(author=alice.id, profile=bob.id, attachments=[attachment])
    did = ok(client_for(alice).post(f"/v1/med/profiles/{bob.id}/documents", body,
                                 format="json")).json()["id"]  # fmt: skip
    other = upload(client_for(alice), alice.id).json()
    url = f"/v1/med/profiles/{bob.id}/documents/{did}"
    keep = {"metadata": "bQ==", "content": "Yw==", "attachments": [attachment["url"]]}
    assert client_for(bob).put(url, keep, format="json").status_code == 200
    add = {**keep, "attachments": [attachment["url"], other["url"]]}
    response = client_for(bob).put(url, add, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_attachment")
    assert Document.objects.get(pk=did).attachments == [attachment["url"]]


def test_attachments_of_others_are_never_listed_or_deleted(alice, bob, client_for, local_storage):
    path = upload(client_for(alice), alice.id).json()["path"]
    response = client_for(bob).delete(f"/v1/med/profiles/{bob.id}/attachments?path={path}")
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert f"attachments/{path}" in stored_files(local_storage)


def test_deleting_a_missing_own_attachment_is_a_404(alice, client_for):
    path = f"{alice.id}/doesnotexist"
    response = client_for(alice).delete(f"/v1/med/profiles/{alice.id}/attachments?path={path}")
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


# ---------------------------------------------------------------- avatars


@pytest.mark.parametrize(
    ("name", "mime"),
    [
        ("avatar.png", "image/png"),
        ("avatar.jpg", "image/jpeg"),
        ("avatar.gif", "image/gif"),
        ("avatar.webp", "image/webp"),
    ],
)
def test_it_accepts_real_images_and_serves_them_with_the_sniffed_type(
    alice, client_for, local_storage, name, mime
):
    client = client_for(alice)
    body = {"file": data_url(name, mime), "filename": f"0.1.{name.split('.')[1]}",
            "type": "image/png"}  # fmt: skip
    response = client.post(f"/v1/med/profiles/{alice.id}/avatar", body, format="json")
    assert response.status_code == 200, response.content
    assert Profile.objects.get(pk=alice.id).avatar_url == body["filename"]
    served = client.get(f"/v1/med/profiles/{alice.id}/avatar", {"path": body["filename"]},
                        HTTP_ACCEPT="image/webp")  # fmt: skip
    assert served.status_code == 200
    assert served["Content-Type"] == mime
    assert served["X-Content-Type-Options"] == "nosniff"
    assert served.content == (IMAGES / name).read_bytes()


@pytest.mark.parametrize(
    "file",
    [
        data_url("not-an-image.svg", "image/svg+xml"),
        data_url("html-named.png", "image/png"),
        "data:image/png;base64,not base64 at all!",
        "data:image/png;base64,",
        "iVBORw0KGgo=",  # a PNG signature and nothing else
    ],
)
def test_it_refuses_anything_that_is_not_really_an_image(alice, client_for, local_storage, file):
    body = {"file": file, "filename": "evil.png", "type": "image/png"}
    response = client_for(alice).post(f"/v1/med/profiles/{alice.id}/avatar", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_image"
    assert stored_files(local_storage) == set()
    assert Profile.objects.get(pk=alice.id).avatar_url is None


def test_an_oversized_avatar_is_a_413(alice, client_for, settings, local_storage):
    settings.MEDIQOM_MAX_UPLOAD_BYTES = 1024
    png = (IMAGES / "avatar.png").read_bytes() + b"\0" * 2000
    body = {"file": "data:image/png;base64," + base64.b64encode(png).decode(),
            "filename": "big.png", "type": "image/png"}  # fmt: skip
    response = client_for(alice).post(f"/v1/med/profiles/{alice.id}/avatar", body, format="json")
    assert response.status_code == 413
    assert stored_files(local_storage) == set()


@pytest.mark.parametrize("filename", ["../x.png", "a/b.png", ".png", "x..png", "", "a" * 200])
def test_it_refuses_unsafe_avatar_file_names(alice, client_for, local_storage, filename):
    body = {"file": data_url("avatar.png"), "filename": filename, "type": "image/png"}
    response = client_for(alice).post(f"/v1/med/profiles/{alice.id}/avatar", body, format="json")
    assert response.status_code == 400
    assert stored_files(local_storage) == set()


def test_replacing_an_avatar_removes_the_old_file(
    alice, client_for, local_storage, django_capture_on_commit_callbacks
):
    client = client_for(alice)
    for filename in ("first.png", "second.png"):
        with django_capture_on_commit_callbacks(execute=True):
            ok(
                client.post(
                    f"/v1/med/profiles/{alice.id}/avatar",
                    {"file": data_url("avatar.png"), "filename": filename},
                    format="json",
                )
            )
    assert stored_files(local_storage) == {f"avatars/{alice.id}_second.png"}


def test_a_linked_parent_sees_the_avatar_a_stranger_does_not(world, bob, client_for):
    url = f"/v1/med/profiles/{world.family_id}/avatar?path={world.avatar}"
    assert world.client.get(url).status_code == 200
    assert ok(client_for(bob).get(url), 404).json() == NOT_FOUND
    ProfileLink.objects.create(parent_id=bob.id, profile_id=world.family_id, status="approved")
    assert client_for(bob).get(url).status_code == 200


def test_a_missing_avatar_is_a_404(alice, client_for):
    response = client_for(alice).get(f"/v1/med/profiles/{alice.id}/avatar?path=none.png")
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
