"""Session test helpers: the events of a session as stored in its stream, a database scan."""

from __future__ import annotations

import json
from typing import Any

from django.db import connection

from mediqom.streams.models import StreamEvent
from sessions_app.events import stream_key

# The uvicorn servers and the SSE reader of the streams tests.
from tests.streams.conftest import (  # noqa: F401
    SseReader,
    redis_layer,
    start_server,
    ws_db,
)


def stored_events(session_id: Any) -> list[dict[str, Any]]:
    """Every payload appended to the session's stream, in order (decrypted by the model)."""
    rows = StreamEvent.objects.filter(stream_id=stream_key(session_id)).order_by("seq")
    return [json.loads(row.payload) for row in rows]


def database_contains(needle: str) -> list[str]:
    """`table.column` of every text-like column of every public table holding `needle`
    (case-insensitive) — a scan of what is really at rest."""
    hits = []
    with connection.cursor() as cursor:
        cursor.execute(
            """select table_name, column_name from information_schema.columns
               where table_schema = 'public'
                 and data_type in ('text', 'character varying', 'jsonb', 'json')"""
        )
        columns = cursor.fetchall()
        for table, column in columns:
            cursor.execute(
                f'select count(*) from "{table}" where "{column}"::text ilike %s',  # noqa: S608 - names from the catalogue
                [f"%{needle}%"],
            )
            if cursor.fetchone()[0]:
                hits.append(f"{table}.{column}")
    return hits
