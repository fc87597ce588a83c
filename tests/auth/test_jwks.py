"""JWKS over real HTTP: asymmetric keys, rotation, refetch rate limit, hostile documents."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from mediqom.auth.tokens import InvalidToken, jwks_cache, verify_token
from tests.auth.conftest import (
    EC_KID,
    ROTATED_KID,
    RSA_KID,
    UNAUTHORIZED,
    Credentials,
    JwksServer,
    Keys,
    b64url,
    hs256,
    rest_get,
    sign,
    supabase_claims,
)

pytestmark = pytest.mark.django_db


def es256(keys: Keys, kid: str = EC_KID, key: Any = None, **claims: Any) -> str:
    return sign(supabase_claims(**claims), key or keys.ec, "ES256", kid=kid)


class FakeClock:
    """The JWKS cache's clock (`time.monotonic`), moved only by the test: the refresh
    intervals hold however slow a loaded machine runs. Token expiry keeps the real time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    @staticmethod
    def time() -> float:
        return time.time()

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    import mediqom.auth.tokens

    fake = FakeClock()
    monkeypatch.setattr(mediqom.auth.tokens, "time", fake)
    return fake


def accepted(token: str) -> bool:
    try:
        verify_token(token)
    except InvalidToken:
        return False
    return True


def test_it_accepts_es256_and_rs256_tokens_and_caches_the_keys(
    jwks: JwksServer, keys: Keys
) -> None:
    ec_user, rsa_user = uuid.uuid4(), uuid.uuid4()
    ec_token = sign(supabase_claims(ec_user), keys.ec, "ES256", kid=EC_KID)
    rsa_token = sign(supabase_claims(rsa_user), keys.rsa, "RS256", kid=RSA_KID)

    assert verify_token(ec_token).id == ec_user
    assert verify_token(rsa_token).id == rsa_user
    for _ in range(3):
        response = rest_get(Credentials.bearer(rsa_token))
        assert response.status_code == 200
        assert response.json()["id"] == str(rsa_user)
    assert jwks.requests == 1  # one fetch served every later verification


def test_it_picks_up_a_rotated_key_on_an_unknown_kid(
    jwks: JwksServer, keys: Keys, settings: Any
) -> None:
    settings.MEDIQOM_JWKS_MIN_REFRESH_SECONDS = 0
    assert accepted(es256(keys))
    rotated = es256(keys, kid=ROTATED_KID, key=keys.rotated_ec)

    assert not accepted(rotated)  # the server does not publish the new key yet
    assert jwks.requests == 2

    jwks.serve({"keys": [*keys.default_document()["keys"], keys.jwk(keys.rotated_ec, ROTATED_KID)]})
    response = rest_get(Credentials.bearer(rotated))
    assert response.status_code == 200
    assert jwks.requests == 3
    assert accepted(es256(keys))  # the old key still works after the refetch
    assert jwks.requests == 3


def test_an_unknown_kid_refetches_at_most_once_per_interval(
    jwks: JwksServer, keys: Keys, settings: Any
) -> None:
    settings.MEDIQOM_JWKS_MIN_REFRESH_SECONDS = 60
    unknown = es256(keys, kid="not-published", key=keys.attacker_ec)
    for _ in range(5):
        assert rest_get(Credentials.bearer(unknown)).status_code == 401
    assert jwks.requests == 1

    # even a legitimately rotated key waits for the interval: no fetch storm
    jwks.serve({"keys": [keys.jwk(keys.rotated_ec, ROTATED_KID)]})
    assert not accepted(es256(keys, kid=ROTATED_KID, key=keys.rotated_ec))
    assert jwks.requests == 1


def test_a_zero_interval_refetches_on_each_unknown_kid(
    jwks: JwksServer, keys: Keys, settings: Any
) -> None:
    settings.MEDIQOM_JWKS_MIN_REFRESH_SECONDS = 0
    unknown = es256(keys, kid="not-published", key=keys.attacker_ec)
    assert not accepted(unknown)
    assert not accepted(unknown)
    assert jwks.requests == 2


def test_rotation_is_picked_up_once_the_interval_has_passed(
    jwks: JwksServer, keys: Keys, settings: Any, clock: FakeClock
) -> None:
    settings.MEDIQOM_JWKS_MIN_REFRESH_SECONDS = 1
    rotated = es256(keys, kid=ROTATED_KID, key=keys.rotated_ec)
    assert not accepted(rotated)
    jwks.serve({"keys": [keys.jwk(keys.rotated_ec, ROTATED_KID)]})
    assert not accepted(rotated)
    assert jwks.requests == 1
    clock.advance(0.99)
    assert not accepted(rotated)  # just inside the interval: still no refetch
    assert jwks.requests == 1
    clock.advance(0.02)
    assert accepted(rotated)
    assert jwks.requests == 2


def test_a_key_removed_from_the_jwks_stops_working_after_the_max_age(
    jwks: JwksServer, keys: Keys, settings: Any, clock: FakeClock
) -> None:
    """A revoked signing key must not stay trusted for the life of the process."""
    settings.MEDIQOM_JWKS_MIN_REFRESH_SECONDS = 0
    settings.MEDIQOM_JWKS_MAX_AGE_SECONDS = 1
    token = es256(keys)
    assert accepted(token)
    jwks.serve({"keys": [keys.jwk(keys.rsa, RSA_KID)]})  # EC key revoked
    assert accepted(token)  # still within the max age: served from the cache
    assert jwks.requests == 1
    clock.advance(0.99)
    assert accepted(token)
    assert jwks.requests == 1
    clock.advance(0.02)
    assert not accepted(token)
    assert jwks.requests == 2


def test_a_failed_refetch_keeps_the_keys_already_loaded(
    jwks: JwksServer, keys: Keys, settings: Any
) -> None:
    settings.MEDIQOM_JWKS_MIN_REFRESH_SECONDS = 0
    assert accepted(es256(keys))
    jwks.serve(b"upstream error", status=503)
    assert not accepted(es256(keys, kid="not-published", key=keys.attacker_ec))
    assert jwks.requests == 2
    assert accepted(es256(keys))


def test_a_new_jwks_url_drops_the_keys_of_the_old_one(
    jwks: JwksServer, keys: Keys, settings: Any
) -> None:
    assert accepted(es256(keys))
    jwks.serve({"keys": [keys.jwk(keys.rsa, RSA_KID)]})
    settings.SUPABASE_JWKS_URL = jwks.url + "?project=other"
    assert not accepted(es256(keys))
    assert accepted(sign(supabase_claims(), keys.rsa, "RS256", kid=RSA_KID))


@pytest.mark.parametrize("alg", ["HS256", None])
def test_it_never_uses_a_symmetric_oct_key_from_the_jwks(
    jwks: JwksServer, keys: Keys, alg: str | None
) -> None:
    secret = b"attacker-controlled-symmetric-key-0123456789"
    oct_key: dict[str, Any] = {"kty": "oct", "kid": "sym", "k": b64url(secret)}
    if alg:
        oct_key["alg"] = alg
    jwks.serve({"keys": [oct_key, *keys.default_document()["keys"]]})
    token = sign(supabase_claims(), secret, "HS256", kid="sym")

    response = rest_get(Credentials.bearer(token))
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert jwks.requests == 1
    assert jwks_cache.get("sym") is None
    assert accepted(es256(keys))  # the asymmetric keys of the same document still work


@pytest.mark.parametrize(
    ("mislabelled", "signer"),
    [
        ({"alg": "ES256"}, "rsa"),  # an RSA key claiming to be ES256
        ({"alg": "RS256"}, "ec"),  # an EC key claiming to be RS256
        ({"alg": "HS256"}, "ec"),  # an EC key claiming to be HMAC
    ],
)
def test_it_never_uses_a_key_whose_type_and_alg_disagree(
    jwks: JwksServer, keys: Keys, mislabelled: dict[str, str], signer: str
) -> None:
    key = keys.rsa if signer == "rsa" else keys.ec
    jwk = {**keys.jwk(key, "odd"), **mislabelled}
    jwks.serve({"keys": [jwk]})
    token = sign(supabase_claims(), key, "RS256" if signer == "rsa" else "ES256", kid="odd")
    assert not accepted(token)
    assert jwks.requests == 1


def test_a_malformed_key_does_not_disable_the_good_ones(jwks: JwksServer, keys: Keys) -> None:
    broken = {**keys.jwk(keys.ec, "broken"), "x": "AAAA"}
    wrong_curve = {**keys.jwk(keys.ec, "p384"), "crv": "P-384"}
    jwks.serve({"keys": [broken, "not-a-key", None, wrong_curve, *keys.default_document()["keys"]]})
    assert not accepted(es256(keys, kid="broken"))
    response = rest_get(Credentials.bearer(es256(keys)))
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"upstream error", 500),
        (b"not json at all", 200),
        (b"[]", 200),
        (b'"keys"', 200),
        (b'{"keys": {"kid": "ec-key-1"}}', 200),
        (b'{"keys": "ec-key-1"}', 200),
        (b"[" * 5000, 200),
    ],
    ids=[
        "http_500",
        "not_json",
        "json_list",
        "json_string",
        "keys_object",
        "keys_string",
        "deeply_nested",
    ],
)
def test_a_hostile_jwks_document_gives_401_not_500(
    jwks: JwksServer, keys: Keys, body: bytes, status: int
) -> None:
    jwks.serve(body, status=status)
    response = rest_get(Credentials.bearer(es256(keys)))
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert jwks.requests == 1


def test_the_jwks_server_being_down_gives_401_for_asymmetric_tokens_only(
    keys: Keys, settings: Any
) -> None:
    server = JwksServer().start()
    down_url = server.url
    server.stop()  # nothing listens on that port any more
    settings.SUPABASE_JWKS_URL = down_url
    jwks_cache.reset()
    try:
        for token in (es256(keys), sign(supabase_claims(), keys.rsa, "RS256", kid=RSA_KID)):
            response = rest_get(Credentials.bearer(token))
            assert response.status_code == 401
            assert response.json() == UNAUTHORIZED
        # HS256 tokens (with or without a kid) do not depend on the JWKS
        user_id = uuid.uuid4()
        for token in (hs256(supabase_claims(user_id)), hs256(supabase_claims(user_id), kid="k1")):
            response = rest_get(Credentials.bearer(token))
            assert response.status_code == 200
            assert response.json()["id"] == str(user_id)
    finally:
        jwks_cache.reset()


def test_without_a_jwks_url_asymmetric_tokens_are_rejected(keys: Keys, settings: Any) -> None:
    settings.SUPABASE_JWKS_URL = ""
    jwks_cache.reset()
    assert not accepted(es256(keys))
    assert accepted(hs256(supabase_claims()))
