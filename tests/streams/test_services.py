"""The stream log: sequence numbers, encryption at rest, publish-after-commit, end and purge."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mediqom.errors import InvalidInput
from mediqom.streams import hub
from mediqom.streams.models import Stream, StreamEvent
from mediqom.streams.services import (
    StreamOwnerMismatch,
    astream_append,
    stream_append,
    stream_end,
    stream_purge,
)
from tests.streams.conftest import ROOT, server_env

pytestmark = pytest.mark.django_db

CANARY = "Patient reports CANARY-7f3e chest pain since Tuesday"


def event(kind: str = "partial_transcript", **data: object) -> dict[str, object]:
    return {"type": kind, "data": data, "timestamp": 1764680000000}


def raw_payloads() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("select payload from stream_events order by id")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.sqlite_ok
def test_it_numbers_events_per_stream_from_one(alice):
    assert [stream_append(key="session:a", owner_id=alice.id, payload=event()) for _ in "abc"] == [
        1,
        2,
        3,
    ]
    assert stream_append(key="session:b", owner_id=alice.id, payload=event()) == 1
    assert stream_append(key="session:a", owner_id=alice.id, payload=event()) == 4
    stored = list(StreamEvent.objects.filter(stream_id="session:a").values_list("seq", "type"))
    assert stored == [(n, "partial_transcript") for n in (1, 2, 3, 4)]
    assert Stream.objects.get(key="session:a").last_seq == 4


def test_a_scan_of_the_event_table_finds_no_plaintext_of_a_canary_transcript(alice):
    for n in range(3):
        stream_append(key="session:scan", owner_id=alice.id, payload=event(text=f"{CANARY} {n}"))
    with connection.cursor() as cursor:
        cursor.execute("select t::text from stream_events t")
        rows = [row[0] for row in cursor.fetchall()]
        cursor.execute("select t::text from streams t")
        rows += [row[0] for row in cursor.fetchall()]
    assert len(rows) == 4
    for needle in ("CANARY-7f3e", "chest pain", "Tuesday", "Q0FOQVJZ"):  # also not as base64
        assert not [row for row in rows if needle in row]


def test_it_stores_the_payload_encrypted_and_returns_it_exactly(alice):
    payload = event(text=CANARY, confidence=0.91, speaker="doctor")
    stream_append(key="session:c", owner_id=alice.id, payload=payload)
    (stored,) = raw_payloads()
    assert stored.startswith("mqfe1:")
    assert "CANARY" not in stored
    assert "chest" not in stored
    assert "partial_transcript" not in stored
    row = StreamEvent.objects.get(stream_id="session:c")
    assert row.payload == (
        '{"type":"partial_transcript","data":{"text":"' + CANARY + '","confidence":0.91,'
        '"speaker":"doctor"},"timestamp":1764680000000}'
    )


def test_rotation_re_encrypts_events_under_the_new_key(alice, settings):
    stream_append(key="session:r", owner_id=alice.id, payload=event(text=CANARY))
    (before,) = raw_payloads()
    new_key = base64.b64encode(os.urandom(32)).decode()
    settings.MEDIQOM_FIELD_ENCRYPTION_KEYS = [new_key, *settings.MEDIQOM_FIELD_ENCRYPTION_KEYS]
    out = io.StringIO()
    call_command("rotate_field_keys", stdout=out)
    (after,) = raw_payloads()
    assert after != before
    assert after.split(":")[1] != before.split(":")[1]
    # only the new key is left, and the event still reads back
    settings.MEDIQOM_FIELD_ENCRYPTION_KEYS = [new_key]
    assert CANARY in StreamEvent.objects.get(stream_id="session:r").payload


@pytest.mark.parametrize(
    "payload",
    [{"data": {}}, {"type": ""}, {"type": 3}, {"type": "x", "data": {1: 2}}, ["type"]],
)
def test_it_rejects_bad_payloads_and_stores_nothing(alice, payload):
    with pytest.raises(ValueError):  # noqa: PT011 - the message is for programmers
        stream_append(key="session:bad", owner_id=alice.id, payload=payload)
    assert not Stream.objects.exists()
    assert not StreamEvent.objects.exists()


def test_it_rejects_too_large_payloads(alice, settings):
    settings.MEDIQOM_STREAM_MAX_EVENT_BYTES = 2048
    with pytest.raises(ValueError, match="too large"):
        stream_append(key="session:big", owner_id=alice.id, payload=event(text="x" * 3000))
    assert not StreamEvent.objects.exists()


@pytest.mark.parametrize("key", ["", "session", "session:", "a b:c", "x:" + "y" * 81, "s:é"])
def test_it_rejects_bad_keys(alice, key):
    with pytest.raises(InvalidInput):
        stream_append(key=key, owner_id=alice.id, payload=event())


@pytest.mark.sqlite_ok
def test_a_key_cannot_be_appended_to_by_another_owner(alice, bob):
    stream_append(key="session:own", owner_id=alice.id, payload=event())
    with pytest.raises(StreamOwnerMismatch):
        stream_append(key="session:own", owner_id=bob.id, payload=event())
    assert StreamEvent.objects.filter(stream_id="session:own").count() == 1
    assert Stream.objects.get(key="session:own").owner_id == alice.id


def test_it_publishes_only_after_commit_and_not_at_all_on_rollback(
    alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        stream_append(key="session:p", owner_id=alice.id, payload=event())
    assert len(callbacks) == 1

    class Boom(Exception):
        pass

    with (  # noqa: PT012
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(Boom),
        transaction.atomic(),
    ):
        stream_append(key="session:p", owner_id=alice.id, payload=event())
        raise Boom
    assert callbacks == []
    # the rolled-back seq is handed out again: the log never has holes
    assert stream_append(key="session:p", owner_id=alice.id, payload=event()) == 2


@pytest.mark.django_db(transaction=True)
def test_a_committed_append_reaches_the_group(alice, settings):
    """The real publish path, sync caller outside any loop, in-memory layer."""
    key = f"import_job:{uuid.uuid4()}"
    layer = get_channel_layer()

    async def subscribe() -> str:
        channel = await layer.new_channel()
        await layer.group_add(hub.group_name(key), channel)
        return channel

    channel = async_to_sync(subscribe)()
    seq = stream_append(key=key, owner_id=alice.id, payload=event("progress", stage="x"))
    message = async_to_sync(layer.receive)(channel)
    assert message == {"type": "stream.event", "seq": seq, "event": event("progress", stage="x")}


@pytest.mark.django_db(transaction=True)
async def test_the_async_append_stores_and_numbers_like_the_sync_one(alice):
    key = f"session:{uuid.uuid4()}"
    first = await astream_append(key=key, owner_id=alice.id, payload=event())
    second = await astream_append(key=key, owner_id=alice.id, payload=event())
    assert (first, second) == (1, 2)


@pytest.mark.sqlite_ok
def test_end_marks_the_stream_and_an_append_reopens_it(alice):
    stream_append(key="session:e", owner_id=alice.id, payload=event())
    stream_end(key="session:e")
    ended = Stream.objects.get(key="session:e").ended_at
    assert ended is not None
    stream_end(key="session:e")  # idempotent
    assert Stream.objects.get(key="session:e").ended_at == ended
    stream_end(key="session:unknown")
    assert not Stream.objects.filter(key="session:unknown").exists()
    assert stream_append(key="session:e", owner_id=alice.id, payload=event()) == 2
    assert Stream.objects.get(key="session:e").ended_at is None


def test_purge_removes_only_events_of_streams_past_retention(alice, settings):
    settings.MEDIQOM_STREAM_RETENTION_SECONDS = 3600
    for key in ("session:old", "session:recent", "session:live"):
        for _ in range(3):
            stream_append(key=key, owner_id=alice.id, payload=event())
    stream_end(key="session:old")
    stream_end(key="session:recent")
    Stream.objects.filter(key="session:old").update(
        ended_at=timezone.now() - timedelta(seconds=3601)
    )
    assert stream_purge() == 3
    assert not StreamEvent.objects.filter(stream_id="session:old").exists()
    assert StreamEvent.objects.filter(stream_id="session:recent").count() == 3
    assert StreamEvent.objects.filter(stream_id="session:live").count() == 3
    old = Stream.objects.get(key="session:old")
    assert (old.last_seq, old.trimmed_seq) == (3, 3)
    assert stream_purge() == 0
    # the counter never restarts, so a reopened stream continues after the purged events
    assert stream_append(key="session:old", owner_id=alice.id, payload=event()) == 4


def test_the_purge_command_purges(alice, settings):
    settings.MEDIQOM_STREAM_RETENTION_SECONDS = 0
    stream_append(key="import_job:x", owner_id=alice.id, payload=event("progress"))
    stream_end(key="import_job:x")
    out = io.StringIO()
    call_command("stream_purge", stdout=out)
    assert out.getvalue().strip() == "purged 1 event(s)"
    assert not StreamEvent.objects.exists()


def test_the_purge_task_purges(alice, settings):
    from mediqom.streams.tasks import stream_purge_task

    settings.MEDIQOM_STREAM_RETENTION_SECONDS = 0
    stream_append(key="import_job:t", owner_id=alice.id, payload=event("progress"))
    stream_end(key="import_job:t")
    result = stream_purge_task.enqueue()
    assert result.return_value == 1
    assert not StreamEvent.objects.exists()


def test_stream_emit_appends_demo_events(alice):
    out = io.StringIO()
    call_command(
        "stream_emit",
        "demo:1",
        "--owner",
        str(alice.id),
        "--count",
        "2",
        "--data",
        '{"n":1}',
        stdout=out,
    )
    assert out.getvalue().split() == ["demo:1", "1", "demo:1", "2"]
    payloads = StreamEvent.objects.filter(stream_id="demo:1").values_list("payload", flat=True)
    assert all('"type":"demo","data":{"n":1}' in p for p in payloads)


def test_stream_emit_refuses_bad_input_and_can_end_the_stream(alice):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="KEY"):
        call_command("stream_emit", "nokind", "--owner", str(alice.id), stdout=io.StringIO())
    with pytest.raises(CommandError, match="UUID"):
        call_command("stream_emit", "demo:2", "--owner", "x", stdout=io.StringIO())
    call_command("stream_emit", "demo:2", "--owner", str(alice.id), "--end", stdout=io.StringIO())
    assert Stream.objects.get(key="demo:2").ended_at is not None


@pytest.mark.sqlite_ok
def test_an_append_to_an_existing_stream_is_one_statement_on_postgresql(alice):
    """The first append creates the stream (general path); later ones are a single statement
    on PostgreSQL, the general path on SQLite; both store the same encrypted event."""
    stream_append(key="session:one", owner_id=alice.id, payload=event(n=1))
    with CaptureQueriesContext(connection) as queries:
        seq = stream_append(key="session:one", owner_id=alice.id, payload=event(text=CANARY))
    assert seq == 2
    if connection.vendor == "postgresql":
        assert len(queries) == 1
        assert "CANARY" not in queries[0]["sql"]
    else:
        assert len(queries) >= 2
    (stored,) = StreamEvent.objects.filter(stream_id="session:one", seq=2).values_list(
        "payload", flat=True
    )
    assert CANARY in stored
    assert Stream.objects.get(key="session:one").last_seq == 2


def test_the_one_statement_append_runs_in_the_callers_transaction(alice):
    stream_append(key="session:tx", owner_id=alice.id, payload=event())

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():  # noqa: PT012
        assert stream_append(key="session:tx", owner_id=alice.id, payload=event()) == 2
        raise Boom
    assert Stream.objects.get(key="session:tx").last_seq == 1
    assert StreamEvent.objects.filter(stream_id="session:tx").count() == 1
    assert stream_append(key="session:tx", owner_id=alice.id, payload=event()) == 2


APPENDER = r"""
import json, sys, uuid
import django
django.setup()
from mediqom.streams.services import stream_append
existing, new, owner, count = sys.argv[1], sys.argv[2], uuid.UUID(sys.argv[3]), int(sys.argv[4])
print("ready", flush=True)
sys.stdin.readline()
out = []
for n in range(count):
    for key in (existing, new):
        payload = {"type": "n", "data": {"n": n}, "timestamp": 0}
        out.append([key, stream_append(key=key, owner_id=owner, payload=payload)])
print(json.dumps(out), flush=True)
"""


@pytest.mark.django_db(transaction=True)
def test_appenders_in_several_processes_get_gap_free_increasing_seqs(alice):
    """Four processes append to one existing stream (the one-statement path) and to one new
    stream (they race to create it) at the same time: every seq from 1 is handed out once."""
    existing, new = f"session:{uuid.uuid4()}", f"session:{uuid.uuid4()}"
    stream_append(key=existing, owner_id=alice.id, payload=event())
    count = 60
    children = [
        subprocess.Popen(
            [sys.executable, "-c", APPENDER, existing, new, str(alice.id), str(count)],
            cwd=ROOT,
            env=server_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
        for child in children:  # start together
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        results = []
        for child in children:
            assert child.stdout is not None
            results.append(json.loads(child.stdout.readline()))
            assert child.wait(timeout=60) == 0
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    for key, first in ((existing, 2), (new, 1)):
        handed = [[seq for k, seq in result if k == key] for result in results]
        for mine in handed:
            assert mine == sorted(mine)
            assert len(mine) == count
        total = first + 4 * count - 1
        assert sorted(seq for mine in handed for seq in mine) == list(range(first, total + 1))
        stored = StreamEvent.objects.filter(stream_id=key).order_by("seq")
        assert list(stored.values_list("seq", flat=True)) == list(range(1, total + 1))
        assert Stream.objects.get(key=key).last_seq == total
    assert json.loads(StreamEvent.objects.filter(stream_id=new, seq=1).get().payload)["type"] == "n"


@pytest.mark.django_db(transaction=True)
def test_a_sync_append_reaches_a_redis_layer_subscriber(alice, redis_layer):
    """The publish from sync code on the Redis pub/sub layer (sent from this thread, not via
    the layer's own group_send) is received by the layer's group subscription."""
    key = f"session:{uuid.uuid4()}"
    layer = get_channel_layer()
    stream_append(key=key, owner_id=alice.id, payload=event())

    def append_in_a_thread() -> None:
        try:
            stream_append(key=key, owner_id=alice.id, payload=event(text="redis"))
        finally:
            connection.close()  # this thread's own connection

    async def subscribe_append_receive() -> dict[str, object]:
        import asyncio

        channel = await layer.new_channel()
        await layer.group_add(hub.group_name(key), channel)
        try:
            await asyncio.to_thread(append_in_a_thread)
            return await asyncio.wait_for(layer.receive(channel), timeout=5)
        finally:
            await layer.group_discard(hub.group_name(key), channel)

    message = async_to_sync(subscribe_append_receive)()
    assert message == {"type": "stream.event", "seq": 2, "event": event(text="redis")}
