"""Origin check for WebSockets: ALLOWED_HOSTS plus MEDIQOM_WS_ALLOWED_ORIGINS (the web app's
origin when it is served from another host than the API), read from settings per handshake.

A handshake without an Origin header is accepted: browsers always send one (RFC 6455 §4.1), so
its absence means a native client (the mobile app), which a foreign page cannot drive with the
user's cookie — the attack the check exists for. Such a client still needs a valid token."""

from __future__ import annotations

from typing import Any

from channels.security.websocket import OriginValidator
from django.conf import settings


class SettingsOriginValidator(OriginValidator):  # type: ignore[misc]  # channels is untyped
    """Rejects a handshake whose Origin is not allowed (a foreign page using the auth cookie)."""

    def __init__(self, application: Any) -> None:
        super().__init__(application, [])

    def valid_origin(self, parsed_origin: Any) -> bool:
        allowed = [*settings.ALLOWED_HOSTS, *settings.MEDIQOM_WS_ALLOWED_ORIGINS]
        if parsed_origin is None:
            return True
        return any(self.match_allowed_origin(parsed_origin, pattern) for pattern in allowed)


def origin_validator(application: Any) -> OriginValidator:
    return SettingsOriginValidator(application)
