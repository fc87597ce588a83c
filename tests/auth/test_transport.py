"""Where the token travels: Bearer header and the @supabase/ssr auth cookie, on REST and WS."""

from __future__ import annotations

import json
import urllib.parse
import uuid
from typing import Any

import pytest

from mediqom.auth.middleware import authenticate_scope
from mediqom.auth.tokens import InvalidToken
from mediqom.auth.transport import bearer_from_header, token_from_cookies, token_from_request_parts
from tests.auth.conftest import (
    COOKIE,
    PROJECT_URL,
    UNAUTHORIZED,
    Credentials,
    b64url,
    base64_cookie_value,
    chunk,
    cookie_header,
    hs256,
    rest_get,
    session_json,
    supabase_claims,
    ws_connect,
)

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"


@pytest.fixture
def project(settings: Any) -> None:
    settings.SUPABASE_URL = PROJECT_URL


def token_for(user_id: uuid.UUID) -> str:
    return hs256(supabase_claims(user_id))


def plain_cookie_value(token: str) -> str:
    """The older @supabase/ssr encoding: URL-encoded JSON."""
    return urllib.parse.quote(session_json(token), safe="")


# ------------------------------------------------------------------ bearer_from_header


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("Basic YWxpY2U6c2VjcmV0", None),
        ("Token abc", None),
        (f"Bearer {TOKEN}", TOKEN),
        (f"bearer {TOKEN}", TOKEN),
        (f"BEARER   {TOKEN}  ", TOKEN),
    ],
)
def test_it_reads_the_bearer_header(header: str | None, expected: str | None) -> None:
    assert bearer_from_header(header) == expected


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Bearer    "])
def test_it_rejects_an_empty_bearer_header(header: str) -> None:
    with pytest.raises(InvalidToken):
        bearer_from_header(header)


# ------------------------------------------------------------------- token_from_cookies


@pytest.mark.usefixtures("project")
class TestCookies:
    def test_it_reads_a_whole_base64_cookie(self) -> None:
        assert token_from_cookies({COOKIE: base64_cookie_value(TOKEN)}) == TOKEN

    def test_it_reads_chunked_cookies_in_index_order(self) -> None:
        chunks = chunk(COOKIE, base64_cookie_value(TOKEN), 40)
        assert len(chunks) >= 3
        reordered = dict(reversed(list(chunks.items())))
        assert token_from_cookies(reordered) == TOKEN

    def test_it_reads_url_encoded_json(self) -> None:
        assert token_from_cookies({COOKIE: plain_cookie_value(TOKEN)}) == TOKEN

    def test_it_reads_raw_json(self) -> None:
        assert token_from_cookies({COOKIE: session_json(TOKEN)}) == TOKEN

    def test_it_reads_the_legacy_array_form(self) -> None:
        value = json.dumps([TOKEN, "refresh", None, None, None])
        assert token_from_cookies({COOKIE: value}) == TOKEN

    def test_it_ignores_unrelated_and_helper_cookies(self) -> None:
        cookies = {
            "sessionid": "abc",
            f"{COOKIE}-code-verifier": "base64-abc",
            "sb-abcdefgh-auth-token-user": "x",
        }
        assert token_from_cookies(cookies) is None

    def test_it_ignores_the_cookie_of_another_project(self) -> None:
        other = {"sb-zzzzzzzz-auth-token": base64_cookie_value(TOKEN)}
        assert token_from_cookies(other) is None

    def test_it_picks_the_configured_project_among_several(self) -> None:
        cookies = {
            "sb-zzzzzzzz-auth-token": base64_cookie_value("other.token.value"),
            COOKIE: base64_cookie_value(TOKEN),
        }
        assert token_from_cookies(cookies) == TOKEN

    @pytest.mark.parametrize(
        "cookies",
        [
            {f"{COOKIE}.0": "base64-eyJh", f"{COOKIE}.2": "Y2Nlc3MifQ"},
            {f"{COOKIE}.1": base64_cookie_value(TOKEN)},
            {f"{COOKIE}.{i}": "x" for i in range(21)},
            {COOKIE: base64_cookie_value(TOKEN), f"{COOKIE}.0": base64_cookie_value(TOKEN)},
            {COOKIE: "base64-***"},
            {COOKIE: "base64-" + b64url(b"\xff\xfe\xfd")},
            {COOKIE: "not json"},
            {COOKIE: "base64-" + b64url(b'{"refresh_token":"r"}')},
            {COOKIE: "base64-" + b64url(b'{"access_token":""}')},
            {COOKIE: "base64-" + b64url(b'{"access_token":["a"]}')},
            {COOKIE: "base64-" + b64url(b"[]")},
            {COOKIE: "base64-" + b64url(b"null")},
            {COOKIE: "base64-" + b64url(b"[" * 5000)},
            {COOKIE: "%7B" * 5000},
        ],
        ids=[
            "gap_in_chunks",
            "chunks_not_starting_at_0",
            "too_many_chunks",
            "whole_and_chunked",
            "invalid_base64",
            "base64_of_non_utf8",
            "not_json",
            "no_access_token",
            "empty_access_token",
            "access_token_not_a_string",
            "empty_array",
            "json_null",
            "deeply_nested_json",
            "deeply_nested_url_encoded_json",
        ],
    )
    def test_it_rejects_a_malformed_cookie(self, cookies: dict[str, str]) -> None:
        with pytest.raises(InvalidToken):
            token_from_cookies(cookies)


class TestCookiesWithoutProjectUrl:
    @pytest.fixture(autouse=True)
    def _no_project(self, settings: Any) -> None:
        settings.SUPABASE_URL = ""

    def test_it_uses_the_only_project_cookie(self) -> None:
        assert token_from_cookies({"sb-anyref-auth-token": base64_cookie_value(TOKEN)}) == TOKEN

    def test_it_refuses_to_guess_between_two_projects(self) -> None:
        cookies = {
            "sb-one-auth-token": base64_cookie_value(TOKEN),
            "sb-two-auth-token": base64_cookie_value(TOKEN),
        }
        with pytest.raises(InvalidToken):
            token_from_cookies(cookies)


@pytest.mark.usefixtures("project")
def test_the_bearer_header_wins_over_the_cookie_in_request_parts() -> None:
    cookies = {COOKIE: base64_cookie_value("cookie.token.value")}
    assert token_from_request_parts(f"Bearer {TOKEN}", cookies) == TOKEN
    assert token_from_request_parts(None, cookies) == "cookie.token.value"
    assert token_from_request_parts("Basic abc", cookies) == "cookie.token.value"
    assert token_from_request_parts(None, {}) is None


# -------------------------------------------------------------- authenticate_scope (ASGI)


def _scope(*headers: tuple[bytes, bytes]) -> dict[str, Any]:
    return {"type": "websocket", "path": "/v1/ws", "headers": list(headers)}


@pytest.mark.usefixtures("project")
def test_it_authenticates_an_asgi_scope_from_bearer_and_cookie_headers() -> None:
    user_id = uuid.uuid4()
    token = token_for(user_id)
    bearer = _scope((b"authorization", f"Bearer {token}".encode()))
    user = authenticate_scope(bearer)
    assert user is not None
    assert user.id == user_id

    cookies = chunk(COOKIE, base64_cookie_value(token), 200)
    names = list(cookies)
    split = _scope(
        (b"cookie", cookie_header({n: cookies[n] for n in names[:1]}).encode()),
        (b"cookie", cookie_header({n: cookies[n] for n in names[1:]}).encode()),
    )
    user = authenticate_scope(split)
    assert user is not None
    assert user.id == user_id
    assert authenticate_scope(_scope()) is None


# ---------------------------------------------------------------------- REST end to end


@pytest.mark.django_db
@pytest.mark.usefixtures("project")
class TestRestCookies:
    def test_it_accepts_a_bearer_token(self) -> None:
        user_id = uuid.uuid4()
        response = rest_get(Credentials.bearer(token_for(user_id)))
        assert response.status_code == 200
        assert response.json()["id"] == str(user_id)

    def test_it_accepts_a_whole_cookie(self) -> None:
        user_id = uuid.uuid4()
        response = rest_get(Credentials.cookies({COOKIE: base64_cookie_value(token_for(user_id))}))
        assert response.status_code == 200
        assert response.json()["id"] == str(user_id)

    def test_it_accepts_chunked_cookies(self) -> None:
        user_id = uuid.uuid4()
        chunks = chunk(COOKIE, base64_cookie_value(token_for(user_id)), 300)
        assert list(chunks) == [f"{COOKIE}.0", f"{COOKIE}.1", f"{COOKIE}.2"]
        response = rest_get(Credentials.cookies(chunks))
        assert response.status_code == 200
        assert response.json()["id"] == str(user_id)

    def test_it_accepts_a_url_encoded_json_cookie(self) -> None:
        user_id = uuid.uuid4()
        response = rest_get(Credentials.cookies({COOKIE: plain_cookie_value(token_for(user_id))}))
        assert response.status_code == 200
        assert response.json()["id"] == str(user_id)

    def test_it_ignores_the_cookie_of_another_project(self) -> None:
        cookies = {"sb-zzzzzzzz-auth-token": base64_cookie_value(token_for(uuid.uuid4()))}
        response = rest_get(Credentials.cookies(cookies))
        assert response.status_code == 401
        assert response.json() == UNAUTHORIZED

    def test_it_answers_401_without_any_credentials(self) -> None:
        response = rest_get(Credentials())
        assert response.status_code == 401
        assert response.json() == UNAUTHORIZED

    def test_the_bearer_header_wins_over_the_cookie(self) -> None:
        bearer_user, cookie_user = uuid.uuid4(), uuid.uuid4()
        credentials = Credentials(
            authorization=f"Bearer {token_for(bearer_user)}",
            cookie=cookie_header({COOKIE: base64_cookie_value(token_for(cookie_user))}),
        )
        response = rest_get(credentials)
        assert response.status_code == 200
        assert response.json()["id"] == str(bearer_user)

    def test_an_invalid_bearer_does_not_fall_back_to_the_cookie(self) -> None:
        credentials = Credentials(
            authorization="Bearer not.a.jwt",
            cookie=cookie_header({COOKIE: base64_cookie_value(token_for(uuid.uuid4()))}),
        )
        response = rest_get(credentials)
        assert response.status_code == 401
        assert response.json() == UNAUTHORIZED

    def test_it_finds_the_cookie_among_cookies_python_would_choke_on(self) -> None:
        user_id = uuid.uuid4()
        header = 'prefs={"theme":"dark","lang":"en"}; tracking=a b c; ' + cookie_header(
            {COOKIE: base64_cookie_value(token_for(user_id))}
        )
        response = rest_get(Credentials(cookie=header))
        assert response.status_code == 200
        assert response.json()["id"] == str(user_id)


# ----------------------------------------------------------------- WebSocket end to end


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("project", "ws_db")
class TestWebSocketTransport:
    async def test_it_accepts_a_whole_cookie(self) -> None:
        user_id = uuid.uuid4()
        cookies = {COOKIE: base64_cookie_value(token_for(user_id))}
        result = await ws_connect(Credentials.cookies(cookies))
        assert result.accepted
        assert result.hello == {"type": "hello", "data": {"user_id": str(user_id)}}

    async def test_it_accepts_chunked_cookies(self) -> None:
        user_id = uuid.uuid4()
        chunks = chunk(COOKIE, base64_cookie_value(token_for(user_id)), 300)
        result = await ws_connect(Credentials.cookies(chunks))
        assert result.accepted
        assert result.hello == {"type": "hello", "data": {"user_id": str(user_id)}}

    async def test_it_accepts_a_url_encoded_json_cookie(self) -> None:
        user_id = uuid.uuid4()
        cookies = {COOKIE: plain_cookie_value(token_for(user_id))}
        result = await ws_connect(Credentials.cookies(cookies))
        assert result.accepted
        assert result.hello == {"type": "hello", "data": {"user_id": str(user_id)}}

    async def test_it_finds_the_cookie_among_cookies_python_would_choke_on(self) -> None:
        """Browsers send every cookie of the site; one JSON-valued or spaced cookie must not
        hide the auth cookie (REST parses it leniently, the WebSocket must too)."""
        user_id = uuid.uuid4()
        header = 'prefs={"theme":"dark","lang":"en"}; tracking=a b c; ' + cookie_header(
            {COOKIE: base64_cookie_value(token_for(user_id))}
        )
        result = await ws_connect(Credentials(cookie=header))
        assert result.accepted, result.close_code
        assert result.hello == {"type": "hello", "data": {"user_id": str(user_id)}}

    async def test_it_ignores_the_cookie_of_another_project(self) -> None:
        cookies = {"sb-zzzzzzzz-auth-token": base64_cookie_value(token_for(uuid.uuid4()))}
        result = await ws_connect(Credentials.cookies(cookies))
        assert (result.accepted, result.close_code) == (False, 4401)

    async def test_the_bearer_header_wins_over_the_cookie(self) -> None:
        bearer_user, cookie_user = uuid.uuid4(), uuid.uuid4()
        credentials = Credentials(
            authorization=f"Bearer {token_for(bearer_user)}",
            cookie=cookie_header({COOKIE: base64_cookie_value(token_for(cookie_user))}),
        )
        result = await ws_connect(credentials)
        assert result.hello == {"type": "hello", "data": {"user_id": str(bearer_user)}}

    async def test_it_closes_with_4401_without_credentials(self) -> None:
        result = await ws_connect(Credentials())
        assert (result.accepted, result.close_code) == (False, 4401)

    async def test_it_ignores_a_token_in_the_query_string(self) -> None:
        from channels.testing import WebsocketCommunicator

        from config.asgi import application

        token = token_for(uuid.uuid4())
        communicator = WebsocketCommunicator(
            application,
            f"/v1/ws?access_token={token}&token={token}",
            headers=[(b"origin", b"http://localhost")],
        )
        assert await communicator.connect(timeout=5) == (False, 4401)

    @pytest.mark.parametrize("origin", [b"https://evil.example", b"http://localhost.evil.example"])
    async def test_it_refuses_a_foreign_origin(self, origin: bytes) -> None:
        # A missing Origin (a native client) is accepted with a token (tests/streams/).
        from channels.testing import WebsocketCommunicator

        from config.asgi import application

        headers = [
            (b"authorization", f"Bearer {token_for(uuid.uuid4())}".encode()),
            (b"origin", origin),
        ]
        communicator = WebsocketCommunicator(application, "/v1/ws", headers=headers)
        accepted, _ = await communicator.connect(timeout=5)
        assert not accepted
