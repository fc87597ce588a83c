"""The admin site: staff only, metadata only, read-only records, filterable audit log."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from mediqom.audit.models import AuditEvent
from mediqom.records.models import Document, Key, Profile
from tests.conftest import ok

pytestmark = pytest.mark.django_db

CIPHERTEXT = "QUVTLUdDTS1jaXBoZXJ0ZXh0LWJvZHk" * 20


@pytest.fixture
def staff_client() -> Client:
    user = User.objects.create_user(
        "clinician", password="pw-for-tests", is_staff=True, is_superuser=True
    )
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def document(alice) -> Document:
    document = Document.objects.create(
        profile_id=alice.id,
        type="document",
        metadata=CIPHERTEXT,
        content=CIPHERTEXT,
        author_id=alice.id,
    )
    Key.objects.create(
        document=document, owner_id=alice.id, user_id=alice.id, key=CIPHERTEXT, author_id=alice.id
    )
    return document


def test_it_requires_a_staff_login():
    response = Client().get("/admin/records/document/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_it_shows_document_metadata_with_truncated_ciphertext(staff_client, document):
    response = staff_client.get(f"/admin/records/document/{document.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert CIPHERTEXT[:24] in page
    assert CIPHERTEXT not in page
    assert f"({len(CIPHERTEXT)} chars)" in page
    assert 'name="metadata"' not in page  # no editable field
    assert staff_client.post(f"/admin/records/document/{document.pk}/delete/").status_code == 403


def test_it_lists_profiles_and_documents(staff_client, document, alice):
    assert str(alice.id) in ok(staff_client.get("/admin/records/profile/")).content.decode()
    assert str(document.pk) in ok(staff_client.get("/admin/records/document/")).content.decode()


def test_the_audit_log_is_read_only_and_filterable(staff_client, alice):
    AuditEvent.objects.create(actor_id=alice.id, record_type="document", action="read")
    AuditEvent.objects.create(actor_id=alice.id, record_type="key", action="create")
    response = staff_client.get("/admin/audit/auditevent/?action__exact=read")
    assert response.status_code == 200
    page = response.content.decode()
    assert "1 audit event" in page
    event = AuditEvent.objects.first()
    assert event is not None
    change = staff_client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"action": "x"})
    assert change.status_code == 403
    assert staff_client.post(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403
    assert staff_client.get("/admin/audit/auditevent/add/").status_code == 403


def test_profile_admin_never_shows_private_keys(staff_client, alice):
    from mediqom.records.models import PrivateKey

    PrivateKey.objects.create(
        profile_id=alice.id,
        private_key="SECRET-PRIVATE-KEY-CIPHERTEXT",
        key_hash="$2a$10$hash",
        key_pass="plain-passphrase",
    )
    Profile.objects.filter(pk=alice.id).update(full_name="Alice")
    page = ok(staff_client.get(f"/admin/records/profile/{alice.id}/change/")).content.decode()
    assert "SECRET-PRIVATE-KEY-CIPHERTEXT" not in page
    assert "plain-passphrase" not in page
