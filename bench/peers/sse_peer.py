"""Peer for bench/streams.py: a minimal FastAPI + sse-starlette + Redis pub/sub SSE server.

`GET /streams/{key}` checks the same HS256 bearer token (PyJWT), then relays every message
published on Redis channel `peer:<key>` as one SSE `data:` event. One pub/sub connection per
process fans out to per-client bounded queues. No storage, no replay, no encryption, no
database: the fastest honest shape of "SSE over Redis pub/sub" in Python.

Run: PEER_JWT_SECRET=... PEER_REDIS_URL=redis://... uvicorn bench.peers.sse_peer:app
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import jwt
import redis.asyncio as redis
from fastapi import FastAPI, Header, HTTPException
from sse_starlette.sse import EventSourceResponse

SECRET = os.environ["PEER_JWT_SECRET"]
REDIS_URL = os.environ.get("PEER_REDIS_URL", "redis://127.0.0.1:6379/15")
PREFIX = os.environ.get("PEER_CHANNEL_PREFIX", "peer:")
listeners: dict[str, set[asyncio.Queue[str]]] = {}


async def relay() -> None:
    client = redis.from_url(REDIS_URL)
    pubsub = client.pubsub()
    await pubsub.psubscribe(f"{PREFIX}*")
    async for message in pubsub.listen():
        if message["type"] != "pmessage":
            continue
        key = message["channel"].decode()[len(PREFIX) :]
        data = message["data"].decode()
        for queue in list(listeners.get(key, ())):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(data)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    task = asyncio.create_task(relay())
    yield
    task.cancel()


app = FastAPI(lifespan=lifespan)


@app.get("/streams/{key}")
async def stream(key: str, authorization: str = Header("")) -> EventSourceResponse:
    token = authorization.removeprefix("Bearer ")
    try:
        jwt.decode(token, SECRET, algorithms=["HS256"], audience="authenticated")
    except jwt.PyJWTError as exc:
        raise HTTPException(status_code=401, detail="Unauthorized") from exc
    queue: asyncio.Queue[str] = asyncio.Queue(maxsize=256)
    listeners.setdefault(key, set()).add(queue)

    async def events() -> AsyncIterator[dict[str, Any]]:
        try:
            while True:
                yield {"data": await queue.get()}
        finally:
            listeners.get(key, set()).discard(queue)

    return EventSourceResponse(events(), ping=15)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
