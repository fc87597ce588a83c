"""Stream tables: for_user() alone, RLS alone, and appends through RLS."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from mediqom.db.rls import rls_context
from mediqom.errors import NotFound
from mediqom.records.models import Profile
from mediqom.streams.models import Stream, StreamEvent
from mediqom.streams.selectors import stream_get, stream_read
from mediqom.streams.services import stream_append, stream_end

pytestmark = pytest.mark.django_db

EVENT = {"type": "analysis_update", "data": {"diagnosis": []}, "timestamp": 1}


@pytest.fixture
def alice_streams(alice):
    child = Profile.objects.create(full_name="Alice's child", owner_id=alice.id)
    stream_append(key="session:mine", owner_id=alice.id, payload=EVENT)
    stream_append(key="session:child", owner_id=child.id, payload=EVENT)
    return child


def test_for_user_shows_own_and_owned_profiles_streams_only(alice_streams, alice, bob):
    assert set(Stream.objects.for_user(alice).values_list("key", flat=True)) == {
        "session:mine",
        "session:child",
    }
    assert StreamEvent.objects.for_user(alice).count() == 2
    assert not Stream.objects.for_user(bob).exists()
    assert not StreamEvent.objects.for_user(bob).exists()


def test_rls_alone_hides_alices_streams_from_bob(alice_streams, bob, alice):
    with rls_context(bob):
        assert not Stream.objects.exists()
        assert not StreamEvent.objects.exists()
        assert Stream.objects.filter(key="session:mine").update(last_seq=99) == 0
    with rls_context(alice):
        assert Stream.objects.count() == 2
        assert StreamEvent.objects.count() == 2
    assert Stream.objects.get(key="session:mine").last_seq == 1


def test_selectors_treat_another_users_stream_as_missing(alice_streams, bob):
    with pytest.raises(NotFound):
        stream_get(user=bob, key="session:mine")
    with pytest.raises(NotFound):
        stream_get(user=bob, key="session:nothing")
    assert stream_read(user=bob, key="session:mine", after=0, limit=10) == (None, [])


def test_a_user_appends_and_ends_own_streams_through_rls(alice, alice_streams):
    with rls_context(alice):
        assert stream_append(key="session:mine", owner_id=alice.id, payload=EVENT) == 2
        assert stream_append(key="session:child", owner_id=alice_streams.id, payload=EVENT) == 2
        assert stream_append(key="session:new", owner_id=alice.id, payload=EVENT) == 1
        stream_end(key="session:mine")
    assert Stream.objects.get(key="session:mine").ended_at is not None


def test_rls_refuses_appends_for_another_owner(alice_streams, alice, bob):
    with rls_context(bob):
        with pytest.raises(DatabaseError), transaction.atomic():
            stream_append(key="session:stolen", owner_id=alice.id, payload=EVENT)
        with pytest.raises(DatabaseError), transaction.atomic():
            stream_append(key="session:mine", owner_id=alice.id, payload=EVENT)
        # an event of Bob's own into Alice's stream, bypassing the service
        with pytest.raises(DatabaseError), transaction.atomic():
            StreamEvent.objects.create(
                stream_id="session:mine", seq=50, type="x", payload="{}", owner_id=bob.id
            )
    assert StreamEvent.objects.filter(stream_id="session:mine").count() == 1
    assert not Stream.objects.filter(key="session:stolen").exists()


def test_the_policy_columns_are_indexed():
    with connection.cursor() as cursor:
        cursor.execute(
            """select t.relname, a.attname from pg_index i
               join pg_class t on t.oid = i.indrelid
               join pg_attribute a on a.attrelid = t.oid and a.attnum = i.indkey[0]
               where t.relname in ('streams', 'stream_events')"""
        )
        indexed = set(cursor.fetchall())
    assert {("streams", "owner_id"), ("stream_events", "owner_id")} <= indexed
    assert ("stream_events", "stream_key") in indexed
    with connection.cursor() as cursor:
        cursor.execute("select indexdef from pg_indexes where tablename = 'stream_events'")
        definitions = sorted(row[0].split(" USING ")[1] for row in cursor.fetchall())
    # the unique (stream_key, seq) index serves lookups by stream: no second stream_key index
    # to maintain on every append
    assert definitions == ["btree (id)", "btree (owner_id)", "btree (stream_key, seq)"]
