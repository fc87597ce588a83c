"""Session stream names and event payloads (contract §3.2): `{type, data, timestamp}` with the
timestamp in epoch milliseconds. No database writes here."""

from __future__ import annotations

import time
from typing import Any, Literal
from uuid import UUID

EventType = Literal[
    "session_status", "partial_transcript", "ai_thinking", "analysis_update", "error"
]


def stream_key(session_id: UUID | str) -> str:
    """The event-log key (and channel-layer group) of one session."""
    return f"session:{session_id}"


def now_ms() -> int:
    return int(time.time() * 1000)


def event(event_type: EventType, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": event_type, "data": data, "timestamp": now_ms()}
