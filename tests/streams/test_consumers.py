"""`/v1/ws` streams through the real ASGI stack (origin check, auth middleware, consumer)."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from mediqom.streams.services import astream_append, stream_end
from tests.conftest import token_for
from tests.streams.conftest import new_key

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("ws_db")]


def ev(n: int) -> dict[str, object]:
    return {"type": "analysis_update", "data": {"n": n}, "timestamp": n}


def communicator(user=None, origin: bytes | None = b"http://localhost") -> WebsocketCommunicator:
    from config.asgi import application

    headers = [] if origin is None else [(b"origin", origin)]
    if user is not None:
        headers.append((b"authorization", f"Bearer {token_for(user)}".encode()))
    return WebsocketCommunicator(application, "/v1/ws", headers=headers)


async def connected(user) -> WebsocketCommunicator:
    ws = communicator(user)
    assert await ws.connect(timeout=5) == (True, None)
    assert (await ws.receive_json_from(timeout=5))["type"] == "hello"
    return ws


async def test_unauthenticated_is_closed_with_4401():
    ws = communicator(None)
    assert await ws.connect(timeout=5) == (False, 4401)


async def test_a_foreign_origin_is_rejected_and_an_allowed_one_accepted(alice, settings):
    ws = communicator(alice, origin=b"https://evil.example")
    accepted, _ = await ws.connect(timeout=5)
    assert accepted is False
    settings.MEDIQOM_WS_ALLOWED_ORIGINS = ["https://app.mediqom.example"]
    ws = communicator(alice, origin=b"https://app.mediqom.example")
    assert await ws.connect(timeout=5) == (True, None)
    await ws.disconnect()


async def test_a_native_client_without_origin_is_accepted_with_a_token_only():
    """No Origin = not a browser (browsers always send it): the mobile app connects; the token
    is still required."""
    from tests.conftest import make_user

    ws = communicator(None, origin=None)
    assert await ws.connect(timeout=5) == (False, 4401)
    ws = communicator(make_user(), origin=None)
    assert await ws.connect(timeout=5) == (True, None)
    assert (await ws.receive_json_from(timeout=5))["type"] == "hello"
    await ws.disconnect()


async def test_another_users_stream_is_closed_with_4404(alice, bob):
    key = new_key()
    await astream_append(key=key, owner_id=alice.id, payload=ev(1))
    ws = await connected(bob)
    await ws.send_json_to({"type": "subscribe", "stream": key, "since": 0})
    assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4404}
    ws = await connected(bob)
    await ws.send_json_to({"type": "subscribe", "stream": new_key(), "since": 0})
    assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4404}


async def test_resume_with_since_is_exact_then_live_with_the_sse_ids(alice):
    key = new_key()
    for n in range(1, 6):
        await astream_append(key=key, owner_id=alice.id, payload=ev(n))
    ws = await connected(alice)
    await ws.send_json_to({"type": "subscribe", "stream": key, "since": 3})
    assert await ws.receive_json_from(timeout=5) == {
        "type": "subscribed",
        "stream": key,
        "since": 3,
    }
    got = [await ws.receive_json_from(timeout=5) for _ in range(2)]
    assert got == [{"type": "event", "stream": key, "id": n, "data": ev(n)} for n in (4, 5)]
    await astream_append(key=key, owner_id=alice.id, payload=ev(6))
    assert await ws.receive_json_from(timeout=5) == {
        "type": "event",
        "stream": key,
        "id": 6,
        "data": ev(6),
    }
    await database_sync_to_async(stream_end)(key=key)
    assert await ws.receive_json_from(timeout=5) == {"type": "end", "stream": key}
    assert await ws.receive_nothing(timeout=0.2)
    await ws.disconnect()


async def test_bad_messages_get_the_error_shape(alice):
    ws = await connected(alice)
    for message, code in (
        ("not json", "malformed_json"),
        (json.dumps({"type": "subscribe", "stream": "bad key", "since": 0}), "invalid_stream_key"),
        (json.dumps({"type": "subscribe", "stream": new_key(), "since": -1}), "invalid_since"),
        (json.dumps({"type": "nope"}), "unknown_message"),
    ):
        await ws.send_to(text_data=message)
        reply = await ws.receive_json_from(timeout=5)
        assert reply["type"] == "error"
        assert reply["error"]["code"] == code
    await ws.disconnect()


async def test_an_oversized_message_closes_with_1009(alice, settings):
    settings.MEDIQOM_WS_MAX_MESSAGE_BYTES = 256
    ws = await connected(alice)
    await ws.send_to(text_data=json.dumps({"type": "ping", "pad": "x" * 300}))
    assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 1009}


async def test_a_message_flood_closes_with_4429(alice, settings):
    settings.MEDIQOM_WS_MESSAGES_PER_SECOND = 2
    ws = await connected(alice)
    for _ in range(4):  # the burst
        await ws.send_json_to({"type": "ping"})
        assert await ws.receive_json_from(timeout=5) == {"type": "pong"}
    await ws.send_json_to({"type": "ping"})
    assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4429}


async def test_a_disconnect_ends_the_subscriptions(alice):
    from mediqom.streams import hub

    key = new_key()
    await astream_append(key=key, owner_id=alice.id, payload=ev(1))
    ws = await connected(alice)
    await ws.send_json_to({"type": "subscribe", "stream": key, "since": 0})
    await ws.receive_json_from(timeout=5)
    await ws.receive_json_from(timeout=5)
    assert key in hub.get_hub().topics
    await ws.disconnect()
    await asyncio.sleep(0.05)
    assert hub.get_hub().topics == {}
