"""Where a token travels: `Authorization: Bearer …` or the @supabase/ssr auth cookie.

The cookie is `sb-<project ref>-auth-token`, possibly split into `.0`, `.1`, … chunks; its value
is JSON (or `base64-` + base64url JSON) holding `access_token` (older clients: a JSON array
whose first item is the access token).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import urllib.parse
from collections.abc import Mapping

from django.conf import settings

from mediqom.auth.tokens import InvalidToken

_COOKIE = re.compile(r"^sb-([A-Za-z0-9_-]+)-auth-token(?:\.(\d{1,2}))?$")
_MAX_CHUNKS = 20


def bearer_from_header(value: str | None) -> str | None:
    """The token of an `Authorization: Bearer` header, None when there is no such header."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    if not token:
        raise InvalidToken("empty bearer token")
    return token


def _project_ref() -> str | None:
    host = urllib.parse.urlparse(settings.SUPABASE_URL).hostname if settings.SUPABASE_URL else None
    return host.split(".")[0] if host else None


def token_from_cookies(cookies: Mapping[str, str]) -> str | None:
    """The access token held in the Supabase auth cookie(s), None when there is none."""
    groups: dict[str, dict[int, str]] = {}
    for name, value in cookies.items():
        match = _COOKIE.match(name)
        if match is None:
            continue
        ref, chunk = match.group(1), match.group(2)
        groups.setdefault(ref, {})[-1 if chunk is None else int(chunk)] = value
    if not groups:
        return None
    wanted = _project_ref()
    if wanted is not None:
        if wanted not in groups:
            return None
        parts = groups[wanted]
    elif len(groups) == 1:
        parts = next(iter(groups.values()))
    else:
        raise InvalidToken("several Supabase auth cookies and no SUPABASE_URL to choose")
    if -1 in parts:
        if len(parts) > 1:
            raise InvalidToken("both whole and chunked auth cookies")
        raw = parts[-1]
    else:
        indexes = sorted(parts)
        if indexes != list(range(len(indexes))) or len(indexes) > _MAX_CHUNKS:
            raise InvalidToken("auth cookie chunks are not contiguous")
        raw = "".join(parts[i] for i in indexes)
    return _access_token(raw)


def _access_token(raw: str) -> str:
    try:
        if raw.startswith("base64-"):
            body = raw[len("base64-") :]
            text = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("utf-8")
        else:
            text = urllib.parse.unquote(raw)
        session = json.loads(text)
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidToken("malformed auth cookie") from exc
    token = None
    if isinstance(session, dict):
        token = session.get("access_token")
    elif isinstance(session, list) and session:
        token = session[0]
    if not isinstance(token, str) or not token:
        raise InvalidToken("auth cookie holds no access token")
    return token


def token_from_request_parts(authorization: str | None, cookies: Mapping[str, str]) -> str | None:
    """Bearer header first (mobile), then the auth cookie (web)."""
    return bearer_from_header(authorization) or token_from_cookies(cookies)
