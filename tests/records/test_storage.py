"""Object storage backends, object names, image sniffing and attachment references."""

from __future__ import annotations

import json
import uuid

import pytest

from mediqom.records.images import decode_base64, sniff_image, split_data_url
from mediqom.records.paths import attachment_path_from_ref, avatar_object_name
from mediqom.records.storage import (
    LocalStorage,
    ObjectExists,
    ObjectNotFound,
    StorageUnavailable,
    SupabaseStorage,
    get_storage,
)
from tests.conftest import ok
from tests.records.conftest import IMAGES, document_body
from tests.records.supabase_stub import running_stub

UID = uuid.UUID("0b6c7f0e-8a55-4c1c-9d1e-5a1f2b3c4d5e")
PATH = f"{UID}/k3j4h5g6f7d8s9a0"


# ---------------------------------------------------------------- local files


def test_local_storage_round_trip(tmp_path):
    storage = LocalStorage(tmp_path)
    storage.put("attachments", PATH, b"abc", content_type="text/plain")
    assert storage.get("attachments", PATH) == b"abc"
    with pytest.raises(ObjectExists):
        storage.put("attachments", PATH, b"other", content_type="text/plain")
    storage.put("attachments", PATH, b"new", content_type="text/plain", upsert=True)
    assert storage.get("attachments", PATH) == b"new"
    assert storage.list("attachments", f"{UID}/") == [PATH]
    assert storage.list("attachments", f"{uuid.uuid4()}/") == []
    assert storage.delete("attachments", [PATH, f"{UID}/missing"]) == 1
    with pytest.raises(ObjectNotFound):
        storage.get("attachments", PATH)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # no temporary files left


@pytest.mark.parametrize(
    "name",
    [
        "../x",
        "a/../../x",
        "/etc/passwd",
        ".hidden",
        "a//b",
        "a/./b",
        "",
        "a\\b",
        "a\x00b",
        "x" * 2000,
    ],
)
def test_local_storage_refuses_names_outside_its_shape(tmp_path, name):
    (tmp_path / "x").write_text("outside")
    storage = LocalStorage(tmp_path / "media")
    with pytest.raises(ObjectNotFound):
        storage.get("attachments", name)
    with pytest.raises(ObjectNotFound):
        storage.put("attachments", name, b"x", content_type="text/plain")
    assert storage.delete("attachments", [name]) == 0
    assert (tmp_path / "x").read_text() == "outside"


def test_local_storage_refuses_unknown_buckets_and_symlink_escapes(tmp_path):
    storage = LocalStorage(tmp_path / "media")
    with pytest.raises(ObjectNotFound):
        storage.get("secrets", "abc")
    (tmp_path / "media" / "attachments").mkdir(parents=True)
    (tmp_path / "secret").write_text("s")
    (tmp_path / "media" / "attachments" / "link").symlink_to(tmp_path / "secret")
    with pytest.raises(ObjectNotFound):
        storage.get("attachments", "link")


def test_the_backend_follows_the_setting(settings):
    settings.MEDIQOM_STORAGE_BACKEND = "local"
    assert isinstance(get_storage(), LocalStorage)
    settings.MEDIQOM_STORAGE_BACKEND = "supabase"
    assert isinstance(get_storage(), SupabaseStorage)


# ---------------------------------------------------------------- Supabase Storage


@pytest.fixture
def supabase(settings):
    with running_stub() as stub:
        settings.SUPABASE_URL = stub.url
        settings.SUPABASE_SERVICE_ROLE_KEY = "service-role-key"
        settings.MEDIQOM_STORAGE_BACKEND = "supabase"
        yield stub


def test_supabase_storage_round_trip(supabase):
    storage = SupabaseStorage()
    storage.put("attachments", PATH, b"cipher", content_type="text/plain;charset=UTF-8")
    assert supabase.objects[("attachments", PATH)] == (b"cipher", "text/plain")
    assert storage.get("attachments", PATH) == b"cipher"
    with pytest.raises(ObjectExists):
        storage.put("attachments", PATH, b"again", content_type="text/plain")
    storage.put("avatars", f"{UID}_a.png", b"png", content_type="image/png", upsert=True)
    storage.put("avatars", f"{UID}_a.png", b"png2", content_type="image/png", upsert=True)
    assert storage.list("attachments", f"{UID}/") == [PATH]
    assert storage.list("avatars", f"{UID}_") == [f"{UID}_a.png"]
    assert storage.public_url("attachments", PATH) == (
        f"{supabase.url}/storage/v1/object/public/attachments/{PATH}"
    )
    assert storage.delete("attachments", [PATH, f"{UID}/nothing"]) == 1
    with pytest.raises(ObjectNotFound):
        storage.get("attachments", PATH)


def test_supabase_storage_lists_past_one_page(supabase):
    storage = SupabaseStorage()
    for index in range(105):
        supabase.objects[("attachments", f"{UID}/n{index:03d}")] = (b"x", "text/plain")
    assert len(storage.list("attachments", f"{UID}/")) == 105


def test_supabase_storage_failures_are_a_clean_503(supabase):
    supabase.fail_storage = True
    storage = SupabaseStorage()
    with pytest.raises(StorageUnavailable) as info:
        storage.get("attachments", PATH)
    assert info.value.status == 503
    assert PATH not in info.value.message


@pytest.mark.django_db
def test_attachments_through_supabase_storage(supabase, alice, bob, client_for):
    from mediqom.records.models import ProfileLink

    client = client_for(alice)
    attachment = ok(
        client.post(f"/v1/med/profiles/{alice.id}/attachments", {"file": "c3VwYQ=="}, format="json")
    ).json()
    assert attachment["url"] == (
        f"{supabase.url}/storage/v1/object/public/attachments/{attachment['path']}"
    )
    url = f"/v1/med/profiles/{alice.id}/attachments?path={attachment['path']}"
    assert ok(client.get(url)).content == b"c3VwYQ=="
    # a document keeping only the public URL still opens the file for a grant holder
    ProfileLink.objects.create(parent_id=alice.id, profile_id=bob.id, status="approved")
    body = document_body(author=alice.id, profile=bob.id, attachments=[attachment["url"]])
    assert (
        client.post(f"/v1/med/profiles/{bob.id}/documents", body, format="json").status_code == 200
    )
    assert ok(client_for(bob).get(url)).content == b"c3VwYQ=="
    assert ok(client.delete(url)).json() == {"deleted": True}
    assert supabase.objects == {}


# ---------------------------------------------------------------- names, references, images


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        (PATH, PATH),
        ({"url": "x", "path": PATH}, PATH),
        (json.dumps({"url": "u", "path": PATH}), PATH),
        (json.dumps({"url": f"https://p.supabase.co/storage/v1/object/public/attachments/{PATH}"}),
         PATH),
        (f"https://p.supabase.co/storage/v1/object/public/attachments/{PATH}", PATH),
        (f"/v1/med/profiles/{UID}/attachments?path={PATH}", PATH),
        (f"/v1/med/profiles/{UID}/attachments?path={PATH.replace('/', '%2F')}", PATH),
        (f"https://evil.example/{PATH}", None),
        (f"https://p.supabase.co/storage/v1/object/public/attachments/{PATH}/../x", None),
        ("../../etc/passwd", None),
        ("{not json", None),
        (42, None),
    ],
)  # fmt: skip
def test_attachment_references_resolve_to_exact_paths(ref, expected):
    assert attachment_path_from_ref(ref) == expected


def test_avatar_names_are_plain_file_names():
    assert avatar_object_name(UID, "0.123.png") == f"{UID}_0.123.png"
    for bad in ("../a.png", "a/b.png", ".a", "a..png", "a b.png", ""):
        assert avatar_object_name(UID, bad) is None


@pytest.mark.parametrize(
    ("name", "mime"),
    [
        ("avatar.png", "image/png"),
        ("avatar.jpg", "image/jpeg"),
        ("avatar.gif", "image/gif"),
        ("avatar.webp", "image/webp"),
        ("not-an-image.svg", None),
        ("html-named.png", None),
    ],
)
def test_images_are_recognised_by_content(name, mime):
    assert sniff_image((IMAGES / name).read_bytes()) == mime


def test_data_urls_and_base64_are_decoded_strictly():
    assert split_data_url("data:image/png;base64,QUJD") == "QUJD"
    assert split_data_url("data:image/svg+xml;charset=utf-8;base64,QUJD") == "QUJD"
    assert split_data_url("QUJD") == "QUJD"
    assert decode_base64("QU\nJD") == b"ABC"
    assert decode_base64("QUJD!") is None
    assert decode_base64("QUJ") is None
