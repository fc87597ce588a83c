"""`sse_response` from a DRF view (how sessions and imports use it), over real HTTP."""

from __future__ import annotations

import json

import httpx
import pytest

from mediqom.streams.services import stream_append
from tests.conftest import token_for
from tests.streams.conftest import SseReader, new_key

pytestmark = pytest.mark.usefixtures("redis_layer")


def progress(kind: str, n: int) -> dict[str, object]:
    return {"type": kind, "stage": "analysis", "progress": n, "message": "m", "timestamp": n}


def test_a_drf_view_streams_initial_replay_live_and_closes_after_complete(start_server, alice, bob):
    server = start_server(DJANGO_SETTINGS_MODULE="tests.streams.settings_drf")
    key = new_key("import_job")
    stream_append(key=key, owner_id=alice.id, payload=progress("progress", 5))
    url = f"{server.url}/v1/jobs/{key}/process"
    headers = {"Accept": "text/event-stream", "Content-Type": "application/json"}
    stranger = httpx.post(url, headers={**headers, "Authorization": f"Bearer {token_for(bob)}"})
    assert stranger.status_code == 404
    assert stranger.json()["code"] == "not_found"
    assert httpx.post(url, headers=headers).status_code == 401
    with httpx.stream(
        "POST", url, headers={**headers, "Authorization": f"Bearer {token_for(alice)}"}, timeout=10
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = SseReader(response)
        status, first = reader.events(2)
        assert (status.id, json.loads(status.data or "")["type"]) == (None, "status")
        assert (first.id, json.loads(first.data or "")) == (1, progress("progress", 5))
        stream_append(key=key, owner_id=alice.id, payload=progress("progress", 50))
        stream_append(key=key, owner_id=alice.id, payload=progress("complete", 100))
        stream_append(key=key, owner_id=alice.id, payload=progress("progress", 101))
        rest = [f for f in reader.rest() if f.data is not None]
    assert [(f.id, json.loads(f.data or "")["type"]) for f in rest] == [
        (2, "progress"),
        (3, "complete"),
    ]


def test_events_appended_on_server_a_reach_a_client_on_server_b_in_order_once(start_server, alice):
    """Two server processes on the Redis layer; A appends (in its own process), B serves."""
    a = start_server(DJANGO_SETTINGS_MODULE="tests.streams.settings_drf")
    b = start_server(DJANGO_SETTINGS_MODULE="tests.streams.settings_drf")
    key = new_key()
    auth = {"Authorization": f"Bearer {token_for(alice)}"}

    def append_on_a(n: int) -> int:
        response = httpx.post(
            f"{a.url}/v1/test-append/{key}", json=progress("progress", n), headers=auth
        )
        assert response.status_code == 200, response.text
        return int(response.json()["seq"])

    assert append_on_a(1) == 1
    with httpx.stream("GET", f"{b.url}/v1/streams/{key}", headers=auth, timeout=10) as response:
        reader = SseReader(response)
        assert [f.id for f in reader.events(1)] == [1]
        for n in range(2, 12):
            append_on_a(n)
        got = reader.events(10)
    assert [(f.id, json.loads(f.data or "")["progress"]) for f in got] == [
        (n, n) for n in range(2, 12)
    ]
    # disconnected; A keeps appending; B resumes after Last-Event-ID with each one once
    for n in range(12, 16):
        append_on_a(n)
    with httpx.stream(
        "GET", f"{b.url}/v1/streams/{key}", headers={**auth, "Last-Event-ID": "11"}, timeout=10
    ) as response:
        reader = SseReader(response)
        assert [f.id for f in reader.events(4)] == [12, 13, 14, 15]
        append_on_a(16)
        assert [f.id for f in reader.events(1)] == [16]
