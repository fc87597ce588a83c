"""Any process serves any session: two uvicorn processes on the Redis layer, and the same
events over the WebSocket (`/v1/ws`, 4404 for another user's session)."""

from __future__ import annotations

import json

import httpx
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from sessions_app import services
from sessions_app.events import stream_key
from tests.conftest import ok, token_for
from tests.sessions_app.conftest import SseReader
from tests.sessions_app.fixtures import CHEST_PAIN_EN


def stream(server, user, sid, last_event_id=None):
    headers = {"Authorization": f"Bearer {token_for(user)}", "Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    return httpx.stream("GET", f"{server.url}/v1/session/{sid}/stream", headers=headers, timeout=30)


@pytest.mark.usefixtures("redis_layer")
def test_a_stream_on_process_b_follows_the_analysis_made_on_process_a(start_server, alice):
    a, b = start_server(), start_server()
    http_a = httpx.Client(
        base_url=a.url, headers={"Authorization": f"Bearer {token_for(alice)}"}, timeout=30
    )
    sid = ok(http_a.post("/v1/session/start", json={"language": "en"})).json()["sessionId"]
    with stream(b, alice, sid) as response:
        reader = SseReader(response)
        connected = reader.events(2)  # the unstored status, then the stored "started"
        assert json.loads(connected[0].data)["data"]["status"] == "connected"
        analysed = http_a.post(
            "/v1/med/session",
            json={"text": "\n".join(CHEST_PAIN_EN), "type": "diagnosis", "sessionId": sid},
        )
        assert analysed.status_code == 200
        live = reader.events(3)
        assert [json.loads(f.data)["type"] for f in live] == [
            "ai_thinking", "ai_thinking", "analysis_update",
        ]  # fmt: skip
        update = json.loads(live[2].data)["data"]
        assert update["diagnosis"][0]["code"] == "I30.9"
        seen = [f.id for f in connected[1:] + live]
    # reconnect to B after the second event: every later event exactly once, then the rest live
    with stream(b, alice, sid, last_event_id=seen[1]) as response:
        reader = SseReader(response)
        initial = reader.events(1)[0]
        assert initial.id is None
        replay = reader.events(len(seen) - 2)
        assert [f.id for f in replay] == seen[2:]
        ok(http_a.post(f"/v1/session/{sid}/end", json={}))
        rest = [f for f in reader.rest() if f.data]
        assert [json.loads(f.data)["data"]["status"] for f in rest] == ["ended"]
        assert len({f.id for f in replay + rest}) == len(replay) + len(rest)
    http_a.close()


def communicator(user):
    from config.asgi import application

    return WebsocketCommunicator(
        application,
        "/v1/ws",
        headers=[(b"origin", b"http://localhost"),
                 (b"authorization", f"Bearer {token_for(user)}".encode())],
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("ws_db")
async def test_the_websocket_carries_the_session_events_and_refuses_strangers(alice, bob):
    session = await database_sync_to_async(services.session_start)(user=alice, language="en")
    key = stream_key(session.id)
    ws = communicator(alice)
    assert await ws.connect(timeout=5) == (True, None)
    assert (await ws.receive_json_from(timeout=5))["type"] == "hello"
    await ws.send_json_to({"type": "subscribe", "stream": key, "since": 0})
    assert (await ws.receive_json_from(timeout=5))["type"] == "subscribed"
    started = await ws.receive_json_from(timeout=5)
    assert started["data"]["type"] == "session_status"
    await database_sync_to_async(services.session_add_transcript)(
        user=alice, session=session, text=CHEST_PAIN_EN[1]
    )
    got = await ws.receive_json_from(timeout=5)
    assert (got["id"], got["data"]["type"]) == (2, "partial_transcript")
    assert got["data"]["data"]["text"] == CHEST_PAIN_EN[1]
    await ws.disconnect()

    stranger = communicator(bob)
    assert await stranger.connect(timeout=5) == (True, None)
    await stranger.receive_json_from(timeout=5)
    await stranger.send_json_to({"type": "subscribe", "stream": key, "since": 0})
    assert await stranger.receive_output(timeout=5) == {"type": "websocket.close", "code": 4404}


def test_the_stream_route_on_asgi_answers_401_and_404_with_the_envelope(start_server, alice, bob):
    server = start_server()
    http = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token_for(alice)}"}, timeout=30
    )
    sid = ok(http.post("/v1/session/start", json={})).json()["sessionId"]
    url = f"{server.url}/v1/session/{sid}/stream"
    anonymous = httpx.get(url, timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "not_authenticated"
    missing = "00000000-0000-0000-0000-000000000000"
    for user, path in ((bob, url), (alice, url.replace(sid, missing))):
        response = httpx.get(
            path, headers={"Authorization": f"Bearer {token_for(user)}"}, timeout=10
        )
        assert response.status_code == 404
        assert response.json() == {
            "message": "Session not found", "code": "session_not_found", "fields": {},
        }  # fmt: skip
    http.close()
