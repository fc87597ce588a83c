"""The database layer alone for the billing tables: RLS with for_user() bypassed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import DatabaseError, connection, transaction

from mediqom.billing.models import CheckoutSession, PurchaseEvent, StripeEvent
from mediqom.db.rls import rls_context

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_billing(alice):
    CheckoutSession.objects.create(id="cs_test_alice", user_id=alice.id, mode="payment")
    PurchaseEvent.objects.create(
        user_id=alice.id, event_type="pack_purchased", source="stripe", idempotency_key="evt_1"
    )
    StripeEvent.objects.create(
        id="evt_1",
        type="checkout.session.completed",
        created=datetime.now(tz=UTC),
        outcome="processed",
    )


def test_bob_sees_none_of_alices_billing_rows(alice_billing, bob):
    with rls_context(bob):
        assert not CheckoutSession.objects.exists()
        assert not PurchaseEvent.objects.exists()


def test_alice_sees_her_own(alice_billing, alice):
    with rls_context(alice):
        assert list(CheckoutSession.objects.values_list("pk", flat=True)) == ["cs_test_alice"]
        assert PurchaseEvent.objects.count() == 1


def test_nobody_writes_a_session_for_someone_else_or_a_purchase_at_all(alice_billing, alice, bob):
    with rls_context(bob), pytest.raises(DatabaseError), transaction.atomic():
        CheckoutSession.objects.create(id="cs_test_forged", user_id=alice.id, mode="payment")
    with rls_context(alice), pytest.raises(DatabaseError), transaction.atomic():
        PurchaseEvent.objects.create(user_id=alice.id, event_type="refund", source="stripe")
    assert CheckoutSession.objects.count() == 1
    assert PurchaseEvent.objects.count() == 1


def test_processed_events_are_server_only(alice_billing, alice):
    with rls_context(alice), pytest.raises(DatabaseError), transaction.atomic():
        StripeEvent.objects.count()
    with connection.cursor() as cursor:  # as Supabase's default grants would have it
        cursor.execute("grant select, delete on billing_stripe_events to authenticated")
    with rls_context(alice):
        assert StripeEvent.objects.count() == 0
        assert StripeEvent.objects.all().delete()[0] == 0
    assert StripeEvent.objects.count() == 1


def test_the_policy_columns_are_indexed():
    with connection.cursor() as cursor:
        cursor.execute(
            """select t.relname, a.attname from pg_index i
               join pg_class t on t.oid = i.indrelid
               join pg_attribute a on a.attrelid = t.oid and a.attnum = i.indkey[0]
               where t.relname in ('billing_checkout_sessions', 'purchase_history')"""
        )
        indexed = set(cursor.fetchall())
    assert {("billing_checkout_sessions", "user_id"), ("purchase_history", "user_id")} <= indexed


def test_deleting_the_account_removes_its_billing_rows(
    alice_billing, alice, client_for, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIQOM_STORAGE_BACKEND = "local"
    settings.SUPABASE_URL = ""
    response = client_for(alice).delete("/v1/user/delete")
    assert response.status_code == 200, response.content
    assert not CheckoutSession.objects.filter(user_id=alice.id).exists()
    assert not PurchaseEvent.objects.filter(user_id=alice.id).exists()
    assert StripeEvent.objects.count() == 1  # the event log is the server's, not the user's
