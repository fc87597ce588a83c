"""JWT attack matrix (R4): one case table, every case rejected on REST and on the WebSocket.

REST: `GET /v1/med/user` must answer 401 with exactly the error envelope. WebSocket: the `/v1/ws`
handshake must be closed with 4401. Positive controls (HS256, ES256 and RS256 from the JWKS)
prove that the same builders, keys and transports do authenticate when nothing is wrong.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.auth.conftest import (
    COOKIE,
    DROP,
    EC_KID,
    PROJECT_URL,
    RSA_KID,
    UNAUTHORIZED,
    Credentials,
    JwksServer,
    Keys,
    RawRecord,
    b64url,
    base64_cookie_value,
    chunk,
    es256_signer,
    hmac_signer,
    hs256,
    public_pem,
    raw_token,
    rest_get,
    rs256_signer,
    session_json,
    sign,
    supabase_claims,
    ws_connect,
)

ISSUER = f"{PROJECT_URL}/auth/v1"


@dataclass
class Ctx:
    keys: Keys
    settings: Any
    jwks: JwksServer
    user_id: uuid.UUID

    def claims(self, **overrides: Any) -> dict[str, Any]:
        return supabase_claims(self.user_id, **overrides)

    def valid_hs256(self, **overrides: Any) -> str:
        return hs256(self.claims(**overrides))

    def valid_es256(self, **overrides: Any) -> str:
        return sign(self.claims(**overrides), self.keys.ec, "ES256", kid=EC_KID)


Builder = Callable[[Ctx], Credentials]


def bearer(build: Callable[[Ctx], str]) -> Builder:
    return lambda ctx: Credentials.bearer(build(ctx))


def _with_issuer(ctx: Ctx, token_iss: Any) -> str:
    ctx.settings.MEDIQOM_JWT_ISSUER = ISSUER
    return ctx.valid_hs256(iss=token_iss)


def _zero_leeway_expired(ctx: Ctx) -> str:
    ctx.settings.MEDIQOM_JWT_LEEWAY_SECONDS = 0
    return ctx.valid_hs256(exp=int(time.time()) - 1)


def _tampered_payload(ctx: Ctx) -> str:
    header, _, signature = ctx.valid_hs256().split(".")
    forged = ctx.claims(sub=str(uuid.uuid4()))  # someone else's id, signature kept
    return f"{header}.{b64url(json.dumps(forged).encode())}.{signature}"


def _tampered_es256_payload(ctx: Ctx) -> str:
    header, _, signature = ctx.valid_es256().split(".")
    forged = ctx.claims(role="service_role")
    return f"{header}.{b64url(json.dumps(forged).encode())}.{signature}"


def _tampered_signature(ctx: Ctx) -> str:
    header, payload, signature = ctx.valid_hs256().split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[5] ^= 0x01
    return f"{header}.{payload}.{b64url(bytes(raw))}"


def _oversized(ctx: Ctx) -> str:
    return ctx.valid_hs256(user_metadata={"padding": "x" * 64 * 1024})


def _attacker_with_header(**header: Any) -> Callable[[Ctx], str]:
    """An attacker-signed ES256 token pointing the verifier at the attacker's own key."""

    def build(ctx: Ctx) -> str:
        attacker_jwk = ctx.keys.jwk(ctx.keys.attacker_ec, "attacker")
        values = {
            name: attacker_jwk if value == "<jwk>" else value for name, value in header.items()
        }
        return sign(ctx.claims(), ctx.keys.attacker_ec, "ES256", kid=EC_KID, **values)

    return build


def _cookie(cookies: Callable[[Ctx], dict[str, str]]) -> Builder:
    def build(ctx: Ctx) -> Credentials:
        ctx.settings.SUPABASE_URL = PROJECT_URL
        return Credentials.cookies(cookies(ctx))

    return build


def _non_contiguous_chunks(ctx: Ctx) -> dict[str, str]:
    chunks = chunk(COOKIE, base64_cookie_value(ctx.valid_hs256()), 300)
    assert len(chunks) >= 3
    return {name: value for name, value in chunks.items() if not name.endswith(".1")}


def _whole_and_chunked(ctx: Ctx) -> dict[str, str]:
    value = base64_cookie_value(ctx.valid_hs256())
    return {COOKIE: value, **chunk(COOKIE, value, 300)}


CASES: dict[str, Builder] = {
    # --- algorithm attacks
    "alg_none": bearer(lambda ctx: raw_token({"alg": "none", "typ": "JWT"}, ctx.claims(), None)),
    "alg_none_mixed_case_with_jwks_kid": bearer(
        lambda ctx: raw_token({"alg": "nOnE", "typ": "JWT", "kid": EC_KID}, ctx.claims(), None)
    ),
    "hs256_with_ec_public_pem_as_secret_and_jwks_kid": bearer(
        lambda ctx: raw_token(
            {"alg": "HS256", "typ": "JWT", "kid": EC_KID},
            ctx.claims(),
            hmac_signer(public_pem(ctx.keys.ec)),
        )
    ),
    "hs256_with_ec_public_pem_as_secret_without_kid": bearer(
        lambda ctx: raw_token(
            {"alg": "HS256", "typ": "JWT"}, ctx.claims(), hmac_signer(public_pem(ctx.keys.ec))
        )
    ),
    "hs256_with_rsa_public_pem_as_secret_and_jwks_kid": bearer(
        lambda ctx: raw_token(
            {"alg": "HS256", "typ": "JWT", "kid": RSA_KID},
            ctx.claims(),
            hmac_signer(public_pem(ctx.keys.rsa)),
        )
    ),
    "hs256_with_rsa_public_pem_as_secret_without_kid": bearer(
        lambda ctx: raw_token(
            {"alg": "HS256", "typ": "JWT"}, ctx.claims(), hmac_signer(public_pem(ctx.keys.rsa))
        )
    ),
    "hs256_with_the_public_jwk_json_as_secret": bearer(
        lambda ctx: raw_token(
            {"alg": "HS256", "typ": "JWT", "kid": EC_KID},
            ctx.claims(),
            hmac_signer(json.dumps(ctx.keys.jwk(ctx.keys.ec, EC_KID)).encode()),
        )
    ),
    "wrong_hs256_secret": bearer(
        lambda ctx: hs256(ctx.claims(), secret="not-the-project-secret-0123456789abcdef")
    ),
    "unknown_kid_signed_with_attacker_es256_key": bearer(
        lambda ctx: sign(ctx.claims(), ctx.keys.attacker_ec, "ES256", kid="attacker-kid")
    ),
    "es256_signature_with_header_claiming_rs256": bearer(
        lambda ctx: raw_token(
            {"alg": "RS256", "typ": "JWT", "kid": EC_KID},
            ctx.claims(),
            es256_signer(ctx.keys.ec),
        )
    ),
    "rs256_signature_with_header_claiming_es256": bearer(
        lambda ctx: raw_token(
            {"alg": "ES256", "typ": "JWT", "kid": RSA_KID},
            ctx.claims(),
            rs256_signer(ctx.keys.rsa),
        )
    ),
    "es256_token_naming_the_rsa_kid": bearer(
        lambda ctx: sign(ctx.claims(), ctx.keys.ec, "ES256", kid=RSA_KID)
    ),
    "jwk_header_injection": bearer(_attacker_with_header(jwk="<jwk>")),
    "jku_header_injection": bearer(_attacker_with_header(jku="http://127.0.0.1:1/jwks.json")),
    "x5u_header_injection": bearer(_attacker_with_header(x5u="http://127.0.0.1:1/cert.pem")),
    "x5c_header_injection": bearer(_attacker_with_header(x5c=["MIIBIjANBgkqhkiG9w0BAQEFAAOC"])),
    # --- time claims
    "expired_beyond_leeway": bearer(lambda ctx: ctx.valid_hs256(exp=int(time.time()) - 120)),
    "expired_one_second_with_zero_leeway": bearer(_zero_leeway_expired),
    "nbf_in_the_future": bearer(lambda ctx: ctx.valid_hs256(nbf=int(time.time()) + 600)),
    "iat_in_the_future": bearer(lambda ctx: ctx.valid_hs256(iat=int(time.time()) + 600)),
    "missing_exp": bearer(lambda ctx: ctx.valid_hs256(exp=DROP)),
    "missing_iat": bearer(lambda ctx: ctx.valid_hs256(iat=DROP)),
    # --- audience, issuer, subject, role
    "wrong_aud_anon": bearer(lambda ctx: ctx.valid_hs256(aud="anon")),
    "missing_aud": bearer(lambda ctx: ctx.valid_hs256(aud=DROP)),
    "wrong_iss": bearer(lambda ctx: _with_issuer(ctx, "https://evilevil.supabase.co/auth/v1")),
    "missing_iss_when_issuer_configured": bearer(lambda ctx: _with_issuer(ctx, DROP)),
    "missing_sub": bearer(lambda ctx: ctx.valid_hs256(sub=DROP)),
    "sub_not_a_uuid": bearer(lambda ctx: ctx.valid_hs256(sub="alice")),
    "sub_not_a_string": bearer(lambda ctx: ctx.valid_hs256(sub=12345)),
    "role_anon": bearer(lambda ctx: ctx.valid_hs256(role="anon")),
    "missing_role": bearer(lambda ctx: ctx.valid_hs256(role=DROP)),
    "role_service_role": bearer(lambda ctx: ctx.valid_hs256(role="service_role")),
    "es256_role_service_role": bearer(lambda ctx: ctx.valid_es256(role="service_role")),
    # --- tampering and shape
    "tampered_payload": bearer(_tampered_payload),
    "tampered_es256_payload": bearer(_tampered_es256_payload),
    "tampered_signature": bearer(_tampered_signature),
    "oversized_64kb_token": bearer(_oversized),
    "opaque_refresh_token_as_access_token": bearer(lambda ctx: "m2x7k4q9w1zr"),
    "garbage_bearer": bearer(lambda ctx: "not.a.jwt"),
    "deeply_nested_header_json": bearer(
        lambda ctx: f"{b64url(b'[' * 4000)}.{b64url(b'{}')}.{b64url(b'sig')}"
    ),
    "empty_bearer": lambda ctx: Credentials(authorization="Bearer "),
    # --- cookie transport
    "cookie_chunks_not_contiguous": _cookie(_non_contiguous_chunks),
    "cookie_whole_and_chunked_together": _cookie(_whole_and_chunked),
    "cookie_invalid_base64": _cookie(lambda ctx: {COOKIE: "base64-***not*base64***"}),
    "cookie_base64_of_non_utf8": _cookie(lambda ctx: {COOKIE: "base64-" + b64url(b"\xff\xfe")}),
    "cookie_json_without_access_token": _cookie(
        lambda ctx: {COOKIE: "base64-" + b64url(b'{"refresh_token":"m2x7k4q9w1zr"}')}
    ),
    "cookie_access_token_not_a_string": _cookie(
        lambda ctx: {COOKIE: "base64-" + b64url(b'{"access_token":12345}')}
    ),
    "cookie_deeply_nested_json": _cookie(lambda ctx: {COOKIE: "base64-" + b64url(b"[" * 4000)}),
    "cookie_holding_an_alg_none_token": _cookie(
        lambda ctx: {
            COOKIE: "base64-"
            + b64url(session_json(raw_token({"alg": "none"}, ctx.claims(), None)).encode())
        }
    ),
}

POSITIVE: dict[str, Callable[[Ctx], str]] = {
    "hs256": lambda ctx: ctx.valid_hs256(),
    "es256_from_jwks": lambda ctx: ctx.valid_es256(),
    "rs256_from_jwks": lambda ctx: sign(ctx.claims(), ctx.keys.rsa, "RS256", kid=RSA_KID),
    "hs256_with_configured_issuer": lambda ctx: _with_issuer(ctx, ISSUER),
}


@pytest.fixture
def ctx(keys: Keys, settings: Any, jwks: JwksServer) -> Ctx:
    return Ctx(keys=keys, settings=settings, jwks=jwks, user_id=uuid.uuid4())


def _fragments(signature: str, size: int = 16) -> list[str]:
    """Every `size`-character window of a signature: a partial leak counts as a leak."""
    return [signature[i : i + size] for i in range(max(len(signature) - size + 1, 0))]


def _leaked(token: str, records: list[RawRecord]) -> list[str]:
    parts = token.split(".")
    secrets = [token, *(_fragments(parts[2]) if len(parts) == 3 else [])]
    return [r.text() for r in records if any(secret in r.text() for secret in secrets)]


def test_the_matrix_has_enough_cases() -> None:
    assert len(CASES) >= 14


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(CASES))
def test_it_rejects_the_attack_over_rest(
    case: str, ctx: Ctx, raw_mediqom_logs: list[RawRecord]
) -> None:
    credentials = CASES[case](ctx)
    response = rest_get(credentials)
    assert response.status_code == 401, response.content[:300]
    assert response.json() == UNAUTHORIZED
    assert response["WWW-Authenticate"] == 'Bearer realm="mediqom"'
    sent = credentials.authorization or credentials.cookie or ""
    token = sent.removeprefix("Bearer ")
    if len(token) >= 16:
        assert _leaked(token, raw_mediqom_logs) == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("ws_db")
@pytest.mark.parametrize("case", list(CASES))
async def test_it_rejects_the_attack_over_websocket(case: str, ctx: Ctx) -> None:
    result = await ws_connect(CASES[case](ctx))
    assert (result.accepted, result.close_code) == (False, 4401)


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(POSITIVE))
def test_it_accepts_the_valid_token_over_rest(case: str, ctx: Ctx) -> None:
    response = rest_get(Credentials.bearer(POSITIVE[case](ctx)))
    assert response.status_code == 200, response.content[:300]
    assert response.json()["id"] == str(ctx.user_id)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("ws_db")
@pytest.mark.parametrize("case", list(POSITIVE))
async def test_it_accepts_the_valid_token_over_websocket(case: str, ctx: Ctx) -> None:
    result = await ws_connect(Credentials.bearer(POSITIVE[case](ctx)))
    assert result.accepted, result.close_code
    assert result.hello == {"type": "hello", "data": {"user_id": str(ctx.user_id)}}


@pytest.mark.django_db
def test_it_accepts_a_token_of_exactly_the_size_limit_and_rejects_one_byte_more(
    ctx: Ctx,
) -> None:
    limit = ctx.settings.MEDIQOM_JWT_MAX_BYTES
    base = len(ctx.valid_hs256(user_metadata={"p": ""}))
    # each 3 bytes of claim text add 4 base64url characters; search the exact padding
    for pad in range((limit - base) * 3 // 4 - 8, (limit - base) * 3 // 4 + 8):
        token = ctx.valid_hs256(user_metadata={"p": "x" * pad})
        if len(token) == limit:
            break
    else:  # pragma: no cover - arithmetic guard
        pytest.fail("could not build a token of exactly the limit")
    assert rest_get(Credentials.bearer(token)).status_code == 200
    ctx.settings.MEDIQOM_JWT_MAX_BYTES = limit - 1
    assert rest_get(Credentials.bearer(token)).status_code == 401


@pytest.mark.django_db
def test_it_accepts_an_expired_token_within_the_leeway(ctx: Ctx) -> None:
    ctx.settings.MEDIQOM_JWT_LEEWAY_SECONDS = 30
    token = ctx.valid_hs256(exp=int(time.time()) - 5)
    assert rest_get(Credentials.bearer(token)).status_code == 200


# ------------------------------------------------------------------- no token in the logs


def _record_texts(record: logging.LogRecord) -> list[str]:
    texts = [record.getMessage()]
    texts += [repr(value) for value in record.__dict__.values()]
    return texts


@pytest.mark.django_db
def test_it_never_logs_a_token_accepted_or_rejected(
    ctx: Ctx, caplog: pytest.LogCaptureFixture, raw_mediqom_logs: list[RawRecord]
) -> None:
    """Rejected (bad signature, unknown kid through a JWKS fetch, malformed cookie) and
    accepted tokens leave no trace of themselves in any `mediqom` record, at DEBUG, neither
    before nor after the redaction filter."""
    logger = logging.getLogger("mediqom")
    caplog.set_level(logging.DEBUG, logger="mediqom")
    logger.addHandler(caplog.handler)  # `mediqom` does not propagate to the root logger
    ctx.settings.SUPABASE_URL = PROJECT_URL
    try:
        valid = ctx.valid_hs256()
        unknown_kid = sign(ctx.claims(), ctx.keys.attacker_ec, "ES256", kid="attacker-kid")
        bad_signature = _tampered_signature(ctx)
        cookie_value = base64_cookie_value(bad_signature)
        attempts = [
            (Credentials.bearer(bad_signature), 401),
            (Credentials.bearer(unknown_kid), 401),
            (Credentials.cookies({COOKIE: cookie_value}), 401),
            (Credentials.cookies({COOKIE: "base64-" + b64url(b'{"access_token": 5}')}), 401),
            (Credentials.bearer(valid), 200),
        ]
        for credentials, status in attempts:
            assert rest_get(credentials).status_code == status
    finally:
        logger.removeHandler(caplog.handler)

    assert ctx.jwks.requests == 1  # the unknown kid really went through a JWKS fetch
    assert any(r.name == "mediqom.auth" for r in caplog.records), "nothing was logged at all"
    secrets = [cookie_value]
    for token in (valid, unknown_kid, bad_signature):
        secrets += [token, *_fragments(token.split(".")[2])]
    for record in caplog.records:
        for text in _record_texts(record):
            assert not any(secret in text for secret in secrets), text
    for raw in raw_mediqom_logs:
        assert not any(secret in raw.text() for secret in secrets), raw.text()
