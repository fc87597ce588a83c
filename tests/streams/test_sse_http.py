"""SSE over real HTTP: a uvicorn process on the test database and the Redis layer; events are
appended by the test process (another process) and published through Redis."""

from __future__ import annotations

import json
import socket
import time

import httpx
import orjson
import pytest
from channels.layers import channel_layers

from mediqom.streams.services import stream_append, stream_end
from tests.conftest import token_for
from tests.streams.conftest import SseReader, new_key

pytestmark = pytest.mark.usefixtures("redis_layer")


def ev(n: int) -> dict[str, object]:
    return {"type": "partial_transcript", "data": {"n": n, "text": f"word {n}"}, "timestamp": n}


def follow(server, user, key, headers=None, params=None):
    return httpx.stream(
        "GET",
        f"{server.url}/v1/streams/{key}",
        headers={"Authorization": f"Bearer {token_for(user)}", **(headers or {})},
        params=params,
        timeout=10,
    )


def test_it_replays_then_follows_live_with_the_sse_framing(start_server, alice):
    server = start_server()
    key = new_key()
    for n in (1, 2, 3):
        stream_append(key=key, owner_id=alice.id, payload=ev(n))
    with follow(server, alice, key) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        reader = SseReader(response)
        first = reader.next()
        assert first is not None
        assert (first.retry, first.comments, first.data) == (200, ["connected"], None)
        replayed = reader.events(3)
        assert [(f.id, f.data) for f in replayed] == [
            (n, orjson.dumps(ev(n)).decode()) for n in (1, 2, 3)
        ]
        for n in (4, 5):
            stream_append(key=key, owner_id=alice.id, payload=ev(n))
        live = reader.events(2)
        assert [(f.id, json.loads(f.data or "")) for f in live] == [(4, ev(4)), (5, ev(5))]
        assert all(f.raw[0].startswith("id: ") and len(f.raw) == 2 for f in replayed + live)
        # silence brings keepalive comments (1 s in these servers)
        frame = reader.next()
        assert frame is not None
        assert frame.comments == ["keepalive"]


def test_resume_after_last_event_id_or_since_gives_each_missed_event_once(start_server, alice):
    server = start_server()
    key = new_key()
    for n in range(1, 8):
        stream_append(key=key, owner_id=alice.id, payload=ev(n))
    with follow(server, alice, key, headers={"Last-Event-ID": "4"}, params={"since": "1"}) as r:
        reader = SseReader(r)
        assert [f.id for f in reader.events(3)] == [5, 6, 7]
        stream_append(key=key, owner_id=alice.id, payload=ev(8))
        assert [f.id for f in reader.events(1)] == [8]
    with follow(server, alice, key, params={"since": "6"}) as r:
        reader = SseReader(r)
        assert [f.id for f in reader.events(2)] == [7, 8]
        stream_end(key=key)
        # the end closes the response once caught up, with nothing repeated
        assert [f.id for f in reader.rest() if f.data] == []


def _append_unpublished(key, owner_id, n):
    """An append whose publish is lost: the test process's layer is the in-memory one."""
    from django.conf import settings

    redis = settings.CHANNEL_LAYERS
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    try:
        return stream_append(key=key, owner_id=owner_id, payload=ev(n))
    finally:
        settings.CHANNEL_LAYERS = redis
        channel_layers.backends.clear()


def test_a_gap_in_the_published_sequence_is_backfilled_from_the_log(start_server, alice):
    server = start_server()
    key = new_key()
    stream_append(key=key, owner_id=alice.id, payload=ev(1))
    with follow(server, alice, key) as r:
        reader = SseReader(r)
        assert [f.id for f in reader.events(1)] == [1]
        _append_unpublished(key, alice.id, 2)
        _append_unpublished(key, alice.id, 3)
        stream_append(key=key, owner_id=alice.id, payload=ev(4))
        frames = reader.events(3)
        assert [(f.id, json.loads(f.data or "")["data"]["n"]) for f in frames] == [
            (2, 2),
            (3, 3),
            (4, 4),
        ]


def test_a_lost_last_event_still_arrives_through_the_log_poll(start_server, alice):
    server = start_server(MEDIQOM_STREAM_POLL_SECONDS="1")
    key = new_key()
    stream_append(key=key, owner_id=alice.id, payload=ev(1))
    with follow(server, alice, key) as r:
        reader = SseReader(r)
        assert [f.id for f in reader.events(1)] == [1]
        started = time.monotonic()
        _append_unpublished(key, alice.id, 2)
        assert [f.id for f in reader.events(1)] == [2]
        assert time.monotonic() - started < 5


def test_errors_are_the_json_envelope_never_a_stream(start_server, alice, bob):
    server = start_server()
    key = new_key()
    stream_append(key=key, owner_id=alice.id, payload=ev(1))
    url = f"{server.url}/v1/streams/{key}"
    sse = {"Accept": "text/event-stream"}
    anonymous = httpx.get(url, headers=sse, timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "not_authenticated"
    for user, path in ((bob, key), (alice, new_key())):
        response = httpx.get(
            f"{server.url}/v1/streams/{path}",
            headers={**sse, "Authorization": f"Bearer {token_for(user)}"},
            timeout=10,
        )
        assert response.status_code == 404
        assert response.json() == {"message": "Not found", "code": "not_found", "fields": {}}
    for bad in ("-1", "x", "1.5", "9" * 30):
        response = httpx.get(
            url,
            headers={**sse, "Authorization": f"Bearer {token_for(alice)}", "Last-Event-ID": bad},
            timeout=10,
        )
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_since"
    bad_key = httpx.get(
        f"{server.url}/v1/streams/nokind",
        headers={**sse, "Authorization": f"Bearer {token_for(alice)}"},
        timeout=10,
    )
    assert bad_key.status_code == 400
    assert bad_key.json()["code"] == "invalid_stream_key"


def test_the_auth_cookie_alone_opens_the_stream(start_server, alice):
    server = start_server()
    key = new_key()
    stream_append(key=key, owner_id=alice.id, payload=ev(1))
    cookie = "sb-local-auth-token=" + json.dumps({"access_token": token_for(alice)})
    with httpx.stream(
        "GET", f"{server.url}/v1/streams/{key}", headers={"Cookie": cookie}, timeout=10
    ) as r:
        assert r.status_code == 200
        assert [f.id for f in SseReader(r).events(1)] == [1]


def test_router_served_streams_carry_the_request_id_and_security_headers(start_server, alice):
    """Stream GETs skip Django's middleware; the router adds what it would have."""
    server = start_server()
    key = new_key()
    stream_append(key=key, owner_id=alice.id, payload=ev(1))
    with follow(server, alice, key, headers={"X-Request-ID": "proxy-id-1234"}) as response:
        assert response.status_code == 200
        assert response.headers["x-request-id"] == "proxy-id-1234"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["access-control-allow-origin"] == "*"
    refused = httpx.get(f"{server.url}/v1/streams/{key}", headers={"X-Request-ID": "bad id!"})
    assert refused.status_code == 401
    assert refused.json()["code"] == "not_authenticated"
    assert len(refused.headers["x-request-id"]) == 32  # an unsafe id is replaced by a new one
    assert refused.headers["x-content-type-options"] == "nosniff"


def test_a_client_that_stops_reading_does_not_delay_another(start_server, alice):
    """A real uvicorn process: one client opens the stream and never reads (its socket fills
    up, so the server's writes to it start to wait); the other still gets every event."""
    server = start_server()
    key = new_key()
    stream_append(key=key, owner_id=alice.id, payload=ev(0))
    request = (
        f"GET /v1/streams/{key} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token_for(alice)}\r\nAccept: text/event-stream\r\n\r\n"
    ).encode()
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect(("127.0.0.1", server.port))
    stuck.sendall(request)
    # 60 events of 150 KB: more than the stuck client's receive buffer plus what the kernel
    # lets the server's send buffer grow to on loopback (tcp_wmem max, 4 MB by default)
    text = "x" * 150_000
    try:
        with httpx.stream(
            "GET",
            f"{server.url}/v1/streams/{key}",
            headers={"Authorization": f"Bearer {token_for(alice)}"},
            timeout=10,
        ) as response:
            reader = SseReader(response)
            assert [f.id for f in reader.events(1)] == [1]
            for n in range(1, 61):
                payload = {"type": "partial_transcript", "data": {"n": n, "t": text}}
                stream_append(key=key, owner_id=alice.id, payload=payload)
            got = reader.events(60)
            assert [f.id for f in got] == list(range(2, 62))
            assert [orjson.loads(f.data or "")["data"]["n"] for f in got] == list(range(1, 61))
    finally:
        stuck.close()
