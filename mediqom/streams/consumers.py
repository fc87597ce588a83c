"""WebSocket consumers shared by live features. Authentication comes from
SupabaseAuthMiddleware; a missing or invalid token closes the handshake with 4401."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from mediqom.auth.tokens import SupabaseUser

CLOSE_UNAUTHORIZED = 4401


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


class UserEventsConsumer(AuthenticatedJsonConsumer):
    """`/v1/ws`: greets the caller; per-user live events are pushed to it."""

    async def on_authenticated(self) -> None:
        await self.send_json({"type": "hello", "data": {"user_id": str(self.user.id)}})

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_json(
                {
                    "type": "error",
                    "error": {"message": "Unknown message", "code": "unknown_message"},
                }
            )
