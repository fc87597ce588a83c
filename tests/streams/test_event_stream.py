"""The SSE engine in-process (in-memory layer): initial events, close_when, reset after purge,
slow clients, shutdown, and that a disconnect releases every listener."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import orjson
import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from mediqom.streams import hub
from mediqom.streams.models import Stream
from mediqom.streams.services import astream_append, stream_end, stream_purge
from mediqom.streams.sse import EventStream
from tests.streams.conftest import new_key

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("ws_db")]


def ev(kind: str, n: int) -> dict[str, object]:
    return {"type": kind, "stage": "analysis", "progress": n, "message": "m", "timestamp": n}


async def take(frames: AsyncIterator[bytes], count: int, wait: float = 5) -> list[bytes]:
    out = []
    for _ in range(count):
        out.append(await asyncio.wait_for(anext(frames), wait))
    return out


async def ended(frames: AsyncIterator[bytes], wait: float = 5) -> list[bytes]:
    out = []
    try:
        while True:
            out.append(await asyncio.wait_for(anext(frames), wait))
    except StopAsyncIteration:
        return out


def frame(seq: int | None, payload: dict[str, object]) -> bytes:
    return hub.sse_frame(seq, orjson.dumps(payload))


async def test_initial_events_come_first_without_an_id_then_close_when_ends_it(alice):
    key = new_key("import_job")
    await astream_append(key=key, owner_id=alice.id, payload=ev("progress", 10))
    status = {"type": "session_status", "data": {"status": "connected"}, "timestamp": 0}
    stream = EventStream(
        user=alice,
        key=key,
        since=0,
        initial=lambda: [status],
        close_when=lambda e: e["type"] in ("complete", "error"),
    )
    frames = stream.frames()
    opening, initial, first = await take(frames, 3)
    assert opening.startswith(b"retry: ")
    assert initial == b"data: " + orjson.dumps(status) + b"\n\n"
    assert first == frame(1, ev("progress", 10))
    await astream_append(key=key, owner_id=alice.id, payload=ev("progress", 50))
    await astream_append(key=key, owner_id=alice.id, payload=ev("complete", 100))
    await astream_append(key=key, owner_id=alice.id, payload=ev("progress", 101))
    rest = await ended(frames)
    assert rest == [frame(2, ev("progress", 50)), frame(3, ev("complete", 100))]
    assert hub.get_hub().topics == {}


async def test_close_when_also_applies_to_replayed_events(alice):
    key = new_key("import_job")
    for kind, n in (("progress", 1), ("error", 0), ("progress", 2)):
        await astream_append(key=key, owner_id=alice.id, payload=ev(kind, n))
    stream = EventStream(user=alice, key=key, since=0, close_when=lambda e: e["type"] == "error")
    frames = await ended(stream.frames())
    assert frames[1:] == [frame(1, ev("progress", 1)), frame(2, ev("error", 0))]


async def test_a_position_older_than_the_retained_events_gets_a_reset(alice, settings):
    settings.MEDIQOM_STREAM_RETENTION_SECONDS = 60
    key = new_key()
    for n in (1, 2, 3):
        await astream_append(key=key, owner_id=alice.id, payload=ev("analysis_update", n))
    await database_sync_to_async(stream_end)(key=key)
    await database_sync_to_async(
        lambda: Stream.objects.filter(key=key).update(
            ended_at=timezone.now() - timedelta(minutes=5)
        )
    )()
    assert await database_sync_to_async(stream_purge)() == 3
    await astream_append(key=key, owner_id=alice.id, payload=ev("analysis_update", 4))
    stream = EventStream(user=alice, key=key, since=1, snapshot=lambda: {"summary": "s"})
    frames = stream.frames()
    _, reset, fourth = await take(frames, 3)
    head, data = reset.split(b"\n", 1)
    assert head == b"id: 3"
    body = orjson.loads(data.removeprefix(b"data: "))
    assert (body["type"], body["data"]) == ("reset", {"summary": "s"})
    assert fourth == frame(4, ev("analysis_update", 4))
    await frames.aclose()


async def test_a_client_too_far_behind_is_closed_with_a_retry_hint(alice, settings):
    settings.MEDIQOM_STREAM_CLIENT_QUEUE = 2
    key = new_key()
    await astream_append(key=key, owner_id=alice.id, payload=ev("partial_transcript", 1))
    slow = EventStream(user=alice, key=key, since=0).frames()
    fast = EventStream(user=alice, key=key, since=0).frames()
    await take(slow, 2)
    await take(fast, 2)
    reading = asyncio.ensure_future(take(fast, 5, wait=10))
    for n in range(2, 7):
        await astream_append(key=key, owner_id=alice.id, payload=ev("partial_transcript", n))
    assert [f.split(b"\n")[0] for f in await reading] == [b"id: %d" % n for n in range(2, 7)]
    rest = await ended(slow)
    assert rest[-1].startswith(b"retry: ")
    assert rest[-1].endswith(b": lagging\n\n")
    await fast.aclose()


async def test_shutdown_ends_live_streams_with_a_short_retry(alice, settings):
    settings.MEDIQOM_STREAM_SHUTDOWN_RETRY_MS = 123
    key = new_key()
    await astream_append(key=key, owner_id=alice.id, payload=ev("partial_transcript", 1))
    frames = EventStream(user=alice, key=key, since=0).frames()
    await take(frames, 2)
    waiting = asyncio.ensure_future(ended(frames))
    await asyncio.sleep(0.05)
    hub.get_hub().begin_shutdown()
    assert await waiting == [b"retry: 123\n: shutdown\n\n"]


async def test_a_disconnect_releases_every_listener_and_subscription(alice):
    key = new_key()
    await astream_append(key=key, owner_id=alice.id, payload=ev("partial_transcript", 1))
    streams = [EventStream(user=alice, key=key, since=0).frames() for _ in range(3)]
    for frames in streams:
        await take(frames, 2)
    central = hub.get_hub()
    assert len(central.topics[key].listeners) == 3
    task = central.topics[key].task
    pending = [asyncio.ensure_future(anext(frames)) for frames in streams]
    await asyncio.sleep(0.05)
    for future in pending:
        future.cancel()  # what the ASGI server does when the client goes away
    await asyncio.gather(*pending, return_exceptions=True)
    assert central.topics == {}
    assert central.listeners == set()
    await asyncio.sleep(0.05)
    assert task is not None
    assert task.done()
