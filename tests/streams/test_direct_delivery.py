"""Direct delivery (mediqom/streams/hub.py `Listener`): while an SSE follower is parked and
caught up, the hub writes each next event through the response's ASGI `send` itself.

In-process tests drive `EventStream.frames(sink=...)` the way `asgi.serve` does (a pump that
sends what the generator yields) with sinks that record, wait or fail. Over real HTTP:
tests/streams/test_sse_http.py (a client that stops reading does not delay another)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest

from mediqom.streams import hub
from mediqom.streams.services import astream_append
from mediqom.streams.sse import EventStream
from tests.streams.conftest import new_key

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("ws_db")]


def ev(kind: str, n: int) -> dict[str, object]:
    return {"type": kind, "data": {"n": n}, "timestamp": n}


def frame(seq: int, payload: dict[str, object]) -> bytes:
    return hub.sse_frame(seq, orjson.dumps(payload))


class Sink:
    """An ASGI `send` that records bodies; with `held = n` the n-th write waits for `release`,
    with `fail` every write raises; `direct` counts the writes that did not come from the pump."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.direct = 0
        self.held: int | None = None
        self.release = asyncio.Event()
        self.fail = False
        self.pumping = False

    async def __call__(self, message: dict[str, Any]) -> None:
        if self.fail:
            raise OSError("connection reset")
        number = len(self.bodies) + 1
        if not self.pumping:
            self.direct += 1
        self.bodies.append(message["body"])
        if number == self.held:
            await self.release.wait()


async def pump(frames: AsyncIterator[bytes], sink: Sink) -> None:
    """What `asgi.serve` does with the generator."""
    async with contextlib.aclosing(frames):
        async for body in frames:
            sink.pumping = True
            try:
                await sink({"type": "http.response.body", "body": body, "more_body": True})
            finally:
                sink.pumping = False


async def until(check: Callable[[], bool], wait: float = 5) -> None:
    async def poll() -> None:
        while not check():  # noqa: ASYNC110 - polling state of several objects
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), wait)


async def started(key: str, user: Any, sink: Sink, **options: Any) -> asyncio.Task[None]:
    """A follower of `key` from the start, parked once it has replayed what exists."""
    stream = EventStream(user=user, key=key, since=0, **options)
    task = asyncio.ensure_future(pump(stream.frames(sink=sink), sink))
    await until(lambda: bool(hub.get_hub().topics.get(key)) and not sink.pumping)
    await asyncio.sleep(0.05)
    return task


def events_in(sink: Sink) -> list[bytes]:
    return [body for body in sink.bodies if body.startswith(b"id: ")]


async def test_live_events_in_order_are_written_by_the_hub_not_the_follower(alice):
    key = new_key()
    await astream_append(key=key, owner_id=alice.id, payload=ev("partial_transcript", 1))
    sink = Sink()
    task = await started(key, alice, sink)
    assert events_in(sink) == [frame(1, ev("partial_transcript", 1))]  # replayed by the pump
    assert sink.direct == 0
    for n in (2, 3, 4):
        await astream_append(key=key, owner_id=alice.id, payload=ev("partial_transcript", n))
    await until(lambda: len(events_in(sink)) == 4)
    assert events_in(sink) == [frame(n, ev("partial_transcript", n)) for n in (1, 2, 3, 4)]
    assert sink.direct == 3  # the live ones: written by the hub, the follower stayed parked
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await until(lambda: hub.get_hub().topics == {})


async def test_a_write_that_waits_keeps_the_order_and_never_holds_up_the_others(alice):
    key = new_key()
    await astream_append(key=key, owner_id=alice.id, payload=ev("partial_transcript", 1))
    slow, quick = Sink(), Sink()
    slow.held = 3  # preamble, event 1, then event 2's write waits (a full socket)
    tasks = [await started(key, alice, slow), await started(key, alice, quick)]
    for n in range(2, 7):
        await astream_append(key=key, owner_id=alice.id, payload=ev("partial_transcript", n))
    await until(lambda: len(events_in(quick)) == 6)
    assert len(events_in(slow)) == 2  # event 2 is being written; 3..6 wait in its queue
    slow.release.set()
    await until(lambda: len(events_in(slow)) == 6)
    expected = [frame(n, ev("partial_transcript", n)) for n in range(1, 7)]
    assert events_in(slow) == expected
    assert events_in(quick) == expected
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_client_stuck_in_a_write_falls_behind_alone_and_is_closed(alice, settings):
    settings.MEDIQOM_STREAM_CLIENT_QUEUE = 2
    key = new_key()
    await astream_append(key=key, owner_id=alice.id, payload=ev("partial_transcript", 1))
    slow, quick = Sink(), Sink()
    slow.held = 3
    stuck = await started(key, alice, slow)
    quick_task = await started(key, alice, quick)
    for n in range(2, 9):
        await astream_append(key=key, owner_id=alice.id, payload=ev("partial_transcript", n))
    await until(lambda: len(events_in(quick)) == 8)
    slow.release.set()
    await asyncio.wait_for(stuck, 5)  # the follower ended by itself
    assert slow.bodies[-1].endswith(b": lagging\n\n")
    assert [b.split(b"\n")[0] for b in events_in(slow)] == [b"id: 1", b"id: 2"]
    quick_task.cancel()
    await asyncio.gather(quick_task, return_exceptions=True)


async def test_close_when_on_a_directly_written_event_ends_the_response(alice):
    key = new_key("import_job")
    sink = Sink()
    task = await started(key, alice, sink, close_when=lambda e: e["type"] == "complete")
    for kind, n in (("progress", 1), ("complete", 2), ("progress", 3)):
        await astream_append(key=key, owner_id=alice.id, payload=ev(kind, n))
    await asyncio.wait_for(task, 5)
    assert events_in(sink) == [frame(1, ev("progress", 1)), frame(2, ev("complete", 2))]
    await until(lambda: hub.get_hub().topics == {})


async def test_a_close_when_that_raises_ends_that_follower_only(alice):
    key = new_key("import_job")
    picky, plain = Sink(), Sink()

    def close_when(event: dict[str, object]) -> bool:
        raise KeyError("status")

    picky_task = await started(key, alice, picky, close_when=close_when)
    plain_task = await started(key, alice, plain)
    for n in (1, 2, 3):
        await astream_append(key=key, owner_id=alice.id, payload=ev("progress", n))
    await until(lambda: len(events_in(plain)) == 3)
    await asyncio.wait_for(picky_task, 5)
    assert events_in(picky)[:1] == [frame(1, ev("progress", 1))]
    assert picky.bodies[-1].endswith(b": lagging\n\n")
    plain_task.cancel()
    await asyncio.gather(plain_task, return_exceptions=True)


async def test_a_failed_write_ends_that_follower_only(alice):
    key = new_key()
    broken, fine = Sink(), Sink()
    broken_task = await started(key, alice, broken)
    fine_task = await started(key, alice, fine)
    broken.fail = True
    for n in (1, 2, 3):
        await astream_append(key=key, owner_id=alice.id, payload=ev("partial_transcript", n))
    await until(lambda: len(events_in(fine)) == 3)
    done, _ = await asyncio.wait({broken_task}, timeout=5)
    assert done, "the follower with the broken connection did not end"
    assert isinstance(broken_task.exception(), OSError)
    assert len(hub.get_hub().topics[key].listeners) == 1
    fine_task.cancel()
    await asyncio.gather(fine_task, return_exceptions=True)


# ------------------------------------------------------------------ hub.start


async def test_start_runs_a_write_that_completes_at_once_without_a_task():
    ran: list[int] = []

    async def write() -> None:
        ran.append(1)

    assert hub.start(write()) is None
    assert ran == [1]


async def test_start_hands_a_waiting_write_to_a_task_that_finishes_it():
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    steps: list[str] = []

    async def write() -> str:
        steps.append("before")
        got = await gate
        steps.append(got)
        await asyncio.sleep(0)
        return "done"

    task = hub.start(write())
    assert task is not None
    assert steps == ["before"]
    gate.set_result("after")
    assert await asyncio.wait_for(task, 2) == "done"
    assert steps == ["before", "after"]


async def test_start_relays_cancellation_and_errors_into_the_write():
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    cleaned: list[str] = []

    async def write() -> None:
        try:
            await gate
        finally:
            cleaned.append("finally")

    task = hub.start(write())
    assert task is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == ["finally"]

    failing: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def broken() -> None:
        await failing

    task = hub.start(broken())
    assert task is not None
    failing.set_exception(OSError("reset"))
    with pytest.raises(OSError, match="reset"):
        await task


async def test_start_takes_awaitables_that_are_not_coroutines():
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task: Awaitable[Any] | None = hub.start(future)
    assert task is not None
    future.set_result(7)
    assert await task == 7
