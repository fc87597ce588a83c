"""`/v1/ws` authentication through the real ASGI stack (origin check, middleware, consumer)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from mediqom.records.models import Profile
from tests.auth.conftest import (
    EC_KID,
    Credentials,
    JwksServer,
    Keys,
    hs256,
    sign,
    supabase_claims,
    ws_connect,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("ws_db")]


def _communicator(token: str) -> WebsocketCommunicator:
    from config.asgi import application

    return WebsocketCommunicator(
        application,
        "/v1/ws",
        headers=[(b"authorization", f"Bearer {token}".encode()), (b"origin", b"http://localhost")],
    )


async def test_it_accepts_a_valid_token_and_then_talks() -> None:
    user_id = uuid.uuid4()
    communicator = _communicator(hs256(supabase_claims(user_id)))
    assert await communicator.connect(timeout=5) == (True, None)
    assert await communicator.receive_json_from(timeout=5) == {
        "type": "hello",
        "data": {"user_id": str(user_id)},
    }
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from(timeout=5) == {"type": "pong"}
    await communicator.disconnect()
    assert await database_sync_to_async(Profile.objects.filter(pk=user_id).exists)()


async def test_a_rejected_handshake_creates_no_profile_and_sends_nothing() -> None:
    user_id = uuid.uuid4()
    token = hs256(supabase_claims(user_id, exp=int(time.time()) - 3600))
    communicator = _communicator(token)
    assert await communicator.connect(timeout=5) == (False, 4401)
    assert await communicator.receive_nothing(timeout=0.1)
    assert not await database_sync_to_async(Profile.objects.filter(pk=user_id).exists)()


async def test_it_rejects_a_non_bearer_authorization_scheme() -> None:
    token = hs256(supabase_claims())
    result = await ws_connect(Credentials(authorization=f"Basic {token}"))
    assert (result.accepted, result.close_code) == (False, 4401)


async def test_many_handshakes_at_once_each_get_their_own_user() -> None:
    users = [uuid.uuid4() for _ in range(8)]
    bad = [hs256(supabase_claims(), secret="wrong-secret-0123456789abcdefghijkl")] * 4
    tokens = [hs256(supabase_claims(user)) for user in users] + bad
    results = await asyncio.gather(*(ws_connect(Credentials.bearer(t)) for t in tokens))
    for user, result in zip(users, results[: len(users)], strict=True):
        assert result.hello == {"type": "hello", "data": {"user_id": str(user)}}
    for result in results[len(users) :]:
        assert (result.accepted, result.close_code) == (False, 4401)


async def test_a_slow_jwks_fetch_does_not_block_the_event_loop(
    jwks: JwksServer, keys: Keys, settings: Any
) -> None:
    """Verifying a token may fetch the JWKS; that network wait must not freeze every other
    connection served by the same event loop. No timing threshold: the JWKS answer is held
    until another handshake has completed on the loop (or, if the loop is blocked, until the
    hold limit; then the held handshake is already over and the test fails)."""
    jwks.hold = threading.Event()
    jwks.hold_limit = 20.0
    user_id, other_id = uuid.uuid4(), uuid.uuid4()
    token = sign(supabase_claims(user_id), keys.ec, "ES256", kid=EC_KID)
    held = _communicator(token)
    fetching = asyncio.create_task(held.connect(timeout=60))
    try:
        deadline = time.monotonic() + 30
        while not jwks.received.is_set():
            assert time.monotonic() < deadline, "the JWKS was never fetched"
            await asyncio.sleep(0.01)
        assert not fetching.done(), "the handshake finished while its JWKS answer was held"
        other = await ws_connect(Credentials.bearer(hs256(supabase_claims(other_id))))
        assert other.hello == {"type": "hello", "data": {"user_id": str(other_id)}}
        assert not fetching.done(), "the event loop waited for the JWKS fetch"
    finally:
        jwks.hold.set()
    assert await fetching == (True, None)
    assert await held.receive_json_from(timeout=10) == {
        "type": "hello",
        "data": {"user_id": str(user_id)},
    }
    await held.disconnect()
    assert jwks.requests == 1
