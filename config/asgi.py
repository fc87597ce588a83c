"""ASGI entry point: HTTP through Django, WebSockets through Channels with Supabase auth."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.routing import websocket_urlpatterns  # noqa: E402
from mediqom.auth.middleware import SupabaseAuthMiddleware  # noqa: E402
from mediqom.streams.asgi import StreamRouter  # noqa: E402
from mediqom.streams.origin import origin_validator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": StreamRouter(django_asgi_app),
        "websocket": origin_validator(SupabaseAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)
