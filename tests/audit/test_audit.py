"""The audit log is append-only and records reads of medical data without PHI."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from mediqom.audit.models import AppendOnlyError, AuditEvent
from tests.conftest import ok

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(alice) -> AuditEvent:
    return AuditEvent.objects.create(
        actor_id=alice.id, record_type="document", action="read", record_id="r1"
    )


def test_the_orm_refuses_updates_and_deletes(event):
    event.action = "update"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).delete()


def test_the_database_refuses_updates_and_deletes_even_for_the_owner(event):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("update audit_log set action = 'x' where id = %s", [event.pk])
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("delete from audit_log where id = %s", [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "read"


def test_reading_the_user_with_a_private_key_is_audited(alice, client_for):
    from mediqom.records.models import PrivateKey

    PrivateKey.objects.create(profile_id=alice.id, private_key="ENC", key_hash="h")
    response = client_for(alice).get("/v1/med/user", HTTP_X_REQUEST_ID="req-audit-0001")
    assert response.status_code == 200
    row = AuditEvent.objects.get(actor_id=alice.id, record_type="private_key", action="read")
    assert row.record_id == str(alice.id)
    assert row.outcome == "success"
    assert row.request_id == "req-audit-0001"
    assert row.ip == "127.0.0.1"
    assert row.at is not None


def test_audit_rows_hold_no_ciphertext(alice, client_for):
    from tests.records.test_api_user import ENC_PRIVATE, onboarding_body

    ok(client_for(alice).post("/v1/account/onboarding", onboarding_body(), format="json"))
    values = " ".join(str(v) for row in AuditEvent.objects.values() for v in row.values())
    assert ENC_PRIVATE[:40] not in values
    assert "bWV0YQ==" not in values


def test_the_database_refuses_truncate_even_for_the_owner(event):
    with pytest.raises(DatabaseError) as raised, transaction.atomic(), connection.cursor() as c:
        c.execute("truncate audit_log")
    assert "append-only" in str(raised.value)
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_records_of_one_type_action_and_profile_share_a_row(alice):
    """A list of documents and grants writes one row per record type, every id kept in order;
    an id that is not a UUID (an attachment path) keeps a row of its own."""
    import uuid

    from mediqom.audit.services import AuditContext, audit_entries, record_ids

    profile, other = uuid.uuid4(), uuid.uuid4()
    documents = [uuid.uuid4() for _ in range(3)]
    keys = [uuid.uuid4() for _ in range(3)]
    entries: list[tuple[str, str, object, uuid.UUID | None]] = []
    for document, key in zip(documents, keys, strict=True):
        entries += [("document", "list", document, profile), ("key", "list", key, profile)]
    entries += [
        ("document", "list", documents[0], other),
        ("attachment", "read", "a,b/c.bin", profile),
        ("attachment", "read", "d.bin", profile),
    ]
    context = AuditContext(actor_id=alice.id, ip="127.0.0.1", request_id="req-grouped")
    with transaction.atomic():
        audit_entries(context, entries)
    rows = list(
        AuditEvent.objects.filter(request_id="req-grouped")
        .order_by("id")
        .values_list("record_type", "profile_id", "record_id")
    )
    assert [(t, p, record_ids(r)) for t, p, r in rows] == [
        ("document", profile, [str(d) for d in documents]),
        ("key", profile, [str(k) for k in keys]),
        ("document", other, [str(documents[0])]),
        ("attachment", profile, ["a,b/c.bin"]),
        ("attachment", profile, ["d.bin"]),
    ]
