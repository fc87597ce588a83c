"""Restarts with live SSE clients (real uvicorn, real HTTP, Redis layer, loopback only):
SIGTERM ends streams at once with a retry hint; after `kill -9` and a restart on the same
socket every client resumes with nothing lost or repeated."""

from __future__ import annotations

import asyncio
import signal
import threading
import time

import pytest
from channels.db import database_sync_to_async
from django.db import connections

from mediqom.streams.services import stream_append
from tests.conftest import token_for
from tests.streams.conftest import new_key
from tests.streams.swarm import SseClient

pytestmark = pytest.mark.usefixtures("redis_layer")


append = database_sync_to_async(stream_append)


def ev(n: int) -> dict[str, object]:
    return {"type": "analysis_update", "data": {"n": n}, "timestamp": n}


async def wait_until(condition, limit: float, step: float = 0.05) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > limit:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)
    return time.monotonic() - started


def key_of(client: SseClient) -> str:
    return client.path.rsplit("/", 1)[1]


class Appender(threading.Thread):
    """Appends to the streams round-robin from another thread (and another process than the
    server), as a pipeline would, until stopped."""

    def __init__(self, keys: list[str], owner_id, interval: float) -> None:
        super().__init__(daemon=True)
        self.keys, self.owner_id, self.interval = keys, owner_id, interval
        self.last = dict.fromkeys(keys, 1)
        self.halt = threading.Event()

    def run(self) -> None:
        try:
            while not self.halt.is_set():
                for key in self.keys:
                    self.last[key] = stream_append(
                        key=key, owner_id=self.owner_id, payload=ev(self.last[key] + 1)
                    )
                time.sleep(self.interval)
        finally:
            connections.close_all()


async def test_sigterm_ends_streams_with_a_retry_hint_and_exits_promptly(start_server, alice):
    server = start_server()
    key = new_key()
    await append(key=key, owner_id=alice.id, payload=ev(1))
    stop = asyncio.Event()
    clients = [SseClient(server.port, f"/v1/streams/{key}", token_for(alice)) for _ in range(20)]
    tasks = [asyncio.ensure_future(c.run(stop)) for c in clients]
    try:
        await wait_until(lambda: all(c.seqs == [1] for c in clients), 20)
        assert server.proc is not None
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(server.proc.wait, 10)
        # uvicorn would wait 5 s (--timeout-graceful-shutdown) for streams that do not end
        assert time.monotonic() - started < 3
        assert all("shutdown" in c.comments for c in clients)
        assert all(c.retry == 0.5 for c in clients)  # MEDIQOM_STREAM_SHUTDOWN_RETRY_MS
        await asyncio.to_thread(server.start)
        await wait_until(lambda: all(c.connects == 2 for c in clients), 20)
        await append(key=key, owner_id=alice.id, payload=ev(2))
        await wait_until(lambda: all(c.seqs == [1, 2] for c in clients), 10)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await asyncio.to_thread(connections.close_all)


async def test_kill_9_with_500_clients_loses_and_repeats_nothing(start_server, alice):
    server = start_server()
    keys = [new_key() for _ in range(10)]
    for key in keys:
        await append(key=key, owner_id=alice.id, payload=ev(1))
    token = token_for(alice)
    clients = [SseClient(server.port, f"/v1/streams/{keys[i % 10]}", token) for i in range(500)]
    stop = asyncio.Event()
    tasks = [asyncio.ensure_future(c.run(stop)) for c in clients]
    appender = Appender(keys, alice.id, interval=0.05)
    try:
        connected = await wait_until(lambda: all(c.seqs[:1] == [1] for c in clients), 60)
        appender.start()
        await wait_until(lambda: all(len(c.seqs) >= 5 for c in clients), 30)
        assert server.proc is not None
        killed = time.monotonic()
        server.proc.kill()
        server.proc.wait()
        await asyncio.to_thread(server.start)
        ready = time.monotonic() - killed
        resumed_99 = await wait_until(lambda: sum(c.connects >= 2 for c in clients) >= 495, 60)
        resumed_all = await wait_until(lambda: all(c.connects >= 2 for c in clients), 60)
        await asyncio.sleep(1)
        appender.halt.set()
        await asyncio.to_thread(appender.join, 10)
        final = dict(appender.last)
        await wait_until(lambda: all(c.last == final[key_of(c)] for c in clients), 60)
        lost = sum(final[key_of(c)] - len(set(c.seqs)) for c in clients)
        duplicated = sum(len(c.seqs) - len(set(c.seqs)) for c in clients)
        in_order = all(c.seqs == sorted(c.seqs) for c in clients)
        print(
            f"\n[kill -9] clients=500 connected_in={connected:.2f}s events/stream={final[keys[0]]} "
            f"restart_ready={ready:.2f}s after kill; 99% resumed {ready + resumed_99:.2f}s, "
            f"100% {ready + resumed_99 + resumed_all:.2f}s after kill; "
            f"lost={lost} duplicated={duplicated} in_order={in_order}"
        )
        assert (lost, duplicated, in_order) == (0, 0, True)
        assert all(c.seqs == list(range(1, final[key_of(c)] + 1)) for c in clients)
    finally:
        appender.halt.set()
        stop.set()
        await asyncio.gather(*tasks)
        await asyncio.to_thread(connections.close_all)
