"""Benchmark: the durable append alone (`stream_append`: encrypt, insert, commit, publish), the
"emit" column of bench/streams.py without servers or clients, and its parts.

Run: ``.venv/bin/python bench/streams_emit.py`` (PostgreSQL and Redis on 127.0.0.1, a few
seconds). Options: --count 2000 --streams 50 --rate 100 (appends per second, paced like the
producer of bench/streams.py; 0 = back to back) --layer redis|memory.

Reports p50/p99 in ms of: the whole sync `stream_append`, the async `astream_append`, and as
references a bare `select 1` round trip, a bare autocommit insert (one fdatasync) and one
channel-layer publish.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def _stats(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[max(int(len(ordered) * 0.99) - 1, 0)]
    return f"| {name} | {len(ordered)} | {statistics.median(ordered):.3f} | {p99:.3f} |"


def _paced(count: int, rate: float, call: Callable[[int], Any]) -> list[float]:
    out = []
    interval = 1 / rate if rate else 0.0
    started = time.monotonic()
    for index in range(count):
        began = time.perf_counter()
        call(index)
        out.append((time.perf_counter() - began) * 1000)
        delay = started + (index + 1) * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--layer", choices=["redis", "memory"], default="redis")
    args = parser.parse_args()
    if args.layer == "memory":
        os.environ["REDIS_URL"] = ""
        os.environ["BENCH_REDIS_URL"] = ""
    from streams import PG, _setup_django

    db_name = f"bench_emit_{os.getpid()}"
    _setup_django(db_name)
    if args.layer == "memory":
        from django.conf import settings

        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    from django.db import connection, connections

    from mediqom.streams import hub
    from mediqom.streams.services import astream_append, stream_append

    owner = uuid.uuid4()
    keys = [f"bench:{i}" for i in range(args.streams)]
    rows = []
    try:
        for key in keys:
            stream_append(key=key, owner_id=owner, payload={"type": "hello", "timestamp": 0})

        def payload() -> dict[str, Any]:
            return {"type": "bench", "data": {"sent": time.time_ns()}, "timestamp": 0}

        with connection.cursor() as cursor:
            # a logged table: each autocommit insert waits for its WAL flush
            cursor.execute("create table bench_fsync (n int)")

            def select(_: int) -> None:
                cursor.execute("select 1")
                cursor.fetchone()

            def insert(index: int) -> None:
                cursor.execute("insert into bench_fsync values (%s)", [index])

            rows.append(_stats("select 1 (round trip)", _paced(args.count, args.rate, select)))
            rows.append(
                _stats("autocommit insert (round trip + commit)", _paced(args.count, 0, insert))
            )
        rows.append(
            _stats(
                "channel-layer publish (sync caller)",
                _paced(
                    args.count,
                    args.rate,
                    lambda i: hub.publish_event(keys[i % len(keys)], i, payload()),
                ),
            )
        )
        rows.append(
            _stats(
                "stream_append (sync)",
                _paced(
                    args.count,
                    args.rate,
                    lambda i: stream_append(
                        key=keys[i % len(keys)], owner_id=owner, payload=payload()
                    ),
                ),
            )
        )

        async def async_appends() -> list[float]:
            out = []
            interval = 1 / args.rate if args.rate else 0.0
            started = time.monotonic()
            for index in range(args.count):
                began = time.perf_counter()
                await astream_append(key=keys[index % len(keys)], owner_id=owner, payload=payload())
                out.append((time.perf_counter() - began) * 1000)
                delay = started + (index + 1) * interval - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            return out

        rows.append(_stats("astream_append (async)", asyncio.run(async_appends())))
    finally:
        connections.close_all()
        import psycopg

        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            conn.execute(f'drop database if exists "{db_name}" with (force)')
    load = os.getloadavg()
    print(
        f"\nload average {load[0]:.2f}; {args.count} calls each, {args.rate:g}/s, "
        f"layer {args.layer}\n"
    )
    print("| what | calls | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
