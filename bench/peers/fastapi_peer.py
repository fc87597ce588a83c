"""Peer for bench/p1.py: the document list written the way a FastAPI user would write it.

FastAPI + asyncpg + PyJWT, same tables and same answer as ours for
`GET /v1/med/profiles/{pid}/documents?full=true`: HS256 token verified on every request
(`aud`, `exp`, `sub`, role), 401 without a valid token, the profile must be visible to the
caller (own, owned, or linked under the caller: 404 otherwise), only documents the caller holds
a key grant for, with the caller's own grants only. The scoping is in the SQL (no RLS role
switch, no audit row) — what a typical FastAPI service does.

Run: `uvicorn bench.peers.fastapi_peer:app --workers 2` with PEER_DATABASE_URL and
PEER_JWT_SECRET set.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import jwt
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import ORJSONResponse

DATABASE_URL = os.environ.get("PEER_DATABASE_URL", "postgresql://postgres@127.0.0.1/postgres")
SECRET = os.environ.get("PEER_JWT_SECRET", "")
TYPES = ("document", "profile", "health")

pool: asyncpg.Pool | None = None


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    global pool
    pool = await asyncpg.create_pool(DATABASE_URL, min_size=2, max_size=10)
    yield
    await pool.close()


app = FastAPI(lifespan=lifespan, default_response_class=ORJSONResponse)


def caller(request: Request) -> uuid.UUID:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        raise HTTPException(401, "Not authenticated")
    try:
        claims = jwt.decode(
            header[7:],
            SECRET,
            algorithms=["HS256"],
            audience="authenticated",
            options={"require": ["exp", "iat", "sub", "aud"]},
        )
        if claims.get("role") != "authenticated":
            raise HTTPException(401, "Not authenticated")
        return uuid.UUID(str(claims["sub"]))
    except (jwt.PyJWTError, ValueError) as exc:
        raise HTTPException(401, "Not authenticated") from exc


VISIBLE = """
select 1 from profiles p
where p.id = $1 and (p.id = $2 or p.owner_id = $2 or exists (
  select 1 from profiles_links l where l.parent_id = $2 and l.profile_id = p.id))
"""
DOCUMENTS = """
select d.id, d.metadata, d.type, d.user_id, d.author_id, d.content, d.attachments
from documents d
where d.user_id = $1 and d.type = any($3::text[])
  and exists (select 1 from keys k where k.document_id = d.id and k.user_id = $2)
order by d.created_at, d.id
"""
KEYS = """
select k.id, k.created_at, k.document_id, k.owner_id, k.user_id, k.key, k.author_id
from keys k where k.user_id = $2 and k.document_id = any($1::uuid[])
order by k.created_at, k.id
"""


@app.get("/v1/med/profiles/{pid}/documents")
async def documents(pid: uuid.UUID, request: Request, full: str | None = None) -> Any:
    user_id = caller(request)
    assert pool is not None
    async with pool.acquire() as conn:
        if await conn.fetchval(VISIBLE, pid, user_id) is None:
            raise HTTPException(404, "Not found")
        rows = await conn.fetch(DOCUMENTS, pid, user_id, list(TYPES))
        keys = await conn.fetch(KEYS, [row["id"] for row in rows], user_id)
    by_document: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for key in keys:
        by_document.setdefault(key["document_id"], []).append(
            {
                "id": str(key["id"]),
                "created_at": key["created_at"].isoformat(),
                "document_id": str(key["document_id"]),
                "owner_id": str(key["owner_id"]),
                "user_id": str(key["user_id"]),
                "key": key["key"],
                "author_id": str(key["author_id"]),
            }
        )
    items = []
    for row in rows:
        item: dict[str, Any] = {
            "id": str(row["id"]),
            "metadata": row["metadata"],
            "type": row["type"],
            "user_id": str(row["user_id"]),
            "author_id": str(row["author_id"]),
            "keys": by_document.get(row["id"], []),
        }
        if full == "true":
            item["content"] = row["content"]
            item["attachments"] = list(row["attachments"] or [])
        items.append(item)
    return items
