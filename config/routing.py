from __future__ import annotations

from typing import Any

from django.urls import path

from mediqom.streams.consumers import UserEventsConsumer

websocket_urlpatterns: list[Any] = [
    path("v1/ws", UserEventsConsumer.as_asgi()),
]
