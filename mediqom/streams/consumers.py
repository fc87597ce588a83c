"""WebSocket consumers shared by live features. Authentication comes from
SupabaseAuthMiddleware; a missing or invalid token closes the handshake with 4401.

`/v1/ws` carries the same stream events as SSE, with the same ids:
  → {"type":"subscribe","stream":"session:<id>","since":12}
  ← {"type":"subscribed","stream":…,"since":12}
  ← {"type":"event","stream":…,"id":13,"data":<payload>}     (each stored event once, in order)
  ← {"type":"end","stream":…}                                (the stream ended, all sent)
  → {"type":"unsubscribe","stream":…}
A stream that is not the caller's closes the socket with 4404 (as a missing one). Messages
above MEDIQOM_WS_MAX_MESSAGE_BYTES close with 1009, more than MEDIQOM_WS_MESSAGES_PER_SECOND
(burst twice that) with 4429; a client too far behind is closed with 1013 and a shutting-down
server closes with 1012: reconnect and subscribe again with `since`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from mediqom.auth.tokens import SupabaseUser
from mediqom.errors import ApiError, NotFound
from mediqom.streams.selectors import stream_get
from mediqom.streams.services import validate_key
from mediqom.streams.sse import LAGGING, SHUTDOWN, EventStream

CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_RATE_LIMITED = 4429
CLOSE_TOO_BIG = 1009
CLOSE_RESTART = 1012
CLOSE_TRY_AGAIN = 1013


class AuthenticatedJsonConsumer(AsyncJsonWebsocketConsumer):
    """Rejects the handshake unless the scope holds a verified Supabase user."""

    user: SupabaseUser

    async def connect(self) -> None:
        user = self.scope.get("user")
        if self.scope.get("auth_error") or not isinstance(user, SupabaseUser):
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        self.user = user
        await self.accept()
        await self.on_authenticated()

    async def on_authenticated(self) -> None:
        """Hook for subclasses, called after the handshake is accepted."""


def _error(message: str, code: str) -> dict[str, Any]:
    return {"type": "error", "error": {"message": message, "code": code}}


class UserEventsConsumer(AuthenticatedJsonConsumer):
    """`/v1/ws`: greets the caller, answers pings, and follows the caller's streams."""

    async def on_authenticated(self) -> None:
        self.subscriptions: dict[str, asyncio.Task[None]] = {}
        self.tokens = float(2 * settings.MEDIQOM_WS_MESSAGES_PER_SECOND)
        self.refilled = time.monotonic()
        await self.send_json({"type": "hello", "data": {"user_id": str(self.user.id)}})

    def _allow(self) -> bool:
        """A token bucket: MEDIQOM_WS_MESSAGES_PER_SECOND, bursts of twice that."""
        rate = settings.MEDIQOM_WS_MESSAGES_PER_SECOND
        now = time.monotonic()
        self.tokens = min(2.0 * rate, self.tokens + (now - self.refilled) * rate)
        self.refilled = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
        if size > settings.MEDIQOM_WS_MAX_MESSAGE_BYTES:
            await self.close(code=CLOSE_TOO_BIG)
            return
        if not self._allow():
            await self.close(code=CLOSE_RATE_LIMITED)
            return
        if text_data is None:
            await self.send_json(_error("Send JSON text messages", "invalid_message"))
            return
        try:
            content = orjson.loads(text_data)
        except orjson.JSONDecodeError:
            await self.send_json(_error("Malformed JSON", "malformed_json"))
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ping":
            await self.send_json({"type": "pong"})
        elif kind == "subscribe":
            await self._subscribe(content)
        elif kind == "unsubscribe":
            task = self.subscriptions.pop(str(content.get("stream")), None)
            if task is not None:
                task.cancel()
        else:
            await self.send_json(_error("Unknown message", "unknown_message"))

    async def _subscribe(self, content: dict[str, Any]) -> None:
        key, since = content.get("stream"), content.get("since", 0)
        if not isinstance(since, int) or isinstance(since, bool) or since < 0:
            await self.send_json(_error("since must be a non-negative integer", "invalid_since"))
            return
        try:
            validate_key(key)  # type: ignore[arg-type]
            await database_sync_to_async(stream_get)(user=self.user, key=key)
        except NotFound:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        except ApiError as exc:
            await self.send_json(_error(exc.message, exc.code))
            return
        assert isinstance(key, str)
        if key in self.subscriptions:
            self.subscriptions.pop(key).cancel()
        if len(self.subscriptions) >= settings.MEDIQOM_WS_MAX_SUBSCRIPTIONS:
            await self.send_json(_error("Too many subscriptions", "too_many_subscriptions"))
            return
        await self.send_json({"type": "subscribed", "stream": key, "since": since})
        self.subscriptions[key] = asyncio.ensure_future(self._follow(key, since))

    async def _follow(self, key: str, since: int) -> None:
        prefix = b'{"type":"event","stream":' + orjson.dumps(key) + b',"id":'
        stream = EventStream(user=self.user, key=key, since=since)
        async for out in stream.follow():
            if out == LAGGING:
                await self.close(code=CLOSE_TRY_AGAIN)
                return
            if out == SHUTDOWN:
                await self.close(code=CLOSE_RESTART)
                return
            if isinstance(out, tuple):
                seq, data = out
                await self.send(text_data=(prefix + b'%d,"data":' % seq + data + b"}").decode())
        await self.send_json({"type": "end", "stream": key})
        self.subscriptions.pop(key, None)

    async def disconnect(self, code: int) -> None:
        tasks = list(getattr(self, "subscriptions", {}).values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
