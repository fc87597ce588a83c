"""The HS256 fast check (`tokens._hs256_claims`) never accepts what PyJWT refuses.

It may only *accept* (anything else falls back to `jwt.decode`), so the property is: whenever it
returns claims, PyJWT with the same key, algorithm, audience, issuer, leeway and required claims
accepts the token and returns the same claims. Checked on generated tokens (headers, claim
types and times around the limits, wrong keys, padding, single-character mutations) and on a
table of near misses PyJWT refuses. The attack matrix (test_jwt_matrix.py) runs through
`verify_token` with the fast check in place.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
import pytest
from django.conf import settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from mediqom.auth import tokens
from mediqom.auth.tokens import AUDIENCE, InvalidToken, mint_token, verify_token
from tests.auth.conftest import DROP, b64url, hmac_signer, raw_token
from tests.auth.conftest import supabase_claims as supabase

SECRET = "test-only-jwt-secret-with-enough-length-0123456789"
OTHER = "another-secret-of-the-same-length-for-forgeries-000"
LEEWAY = 30
ISSUER = "https://project.supabase.co/auth/v1"


def assemble(header: Any, claims: Any, secret: str, padded: bool = False) -> str:
    """An HS256 token (conftest.raw_token), or with `=` padding on every segment, signed so."""
    sign = hmac_signer(secret.encode())
    if not padded:
        return raw_token(header, claims, sign)

    def pad(text: str) -> str:
        return text + "=" * (-len(text) % 4)

    head, body = (
        pad(b64url(json.dumps(v, separators=(",", ":")).encode())) for v in (header, claims)
    )
    signing_input = f"{head}.{body}"
    return f"{signing_input}.{pad(b64url(sign(signing_input.encode())))}"


def pyjwt(token: str, issuer: str | None) -> dict[str, Any] | None:
    """What `verify_token`'s PyJWT path decides for this token (None: refused)."""
    required = ["exp", "iat", "sub", "aud"] + (["iss"] if issuer else [])
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            SECRET,
            algorithms=["HS256"],
            audience=AUDIENCE,
            issuer=issuer,
            leeway=LEEWAY,
            options={"require": required},
        )
    except jwt.PyJWTError:
        return None
    return claims


def fast(token: str, issuer: str | None) -> dict[str, Any] | None:
    try:
        header = tokens._unverified_header(token)
    except InvalidToken:
        return None
    return tokens._hs256_claims(token, header, SECRET, issuer, LEEWAY)


def test_an_ordinary_supabase_token_takes_the_fast_check_with_pyjwts_claims() -> None:
    token = mint_token(uuid.uuid4(), email="someone@example.test", secret=SECRET)
    claims = fast(token, None)
    assert claims is not None
    assert claims == pyjwt(token, None)
    with_iss = assemble({"alg": "HS256", "typ": "JWT"}, supabase(iss=ISSUER), SECRET)
    assert fast(with_iss, ISSUER) == pyjwt(with_iss, ISSUER) is not None


def test_verify_token_returns_the_same_user_through_either_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert settings.SUPABASE_JWT_SECRET == SECRET
    token = mint_token(uuid.uuid4(), email="someone@example.test")
    quick = verify_token(token)
    monkeypatch.setattr(tokens, "_hs256_claims", lambda *args: None)
    slow = verify_token(token)
    assert (quick.id, quick.claims) == (slow.id, slow.claims)


def now() -> int:
    return int(time.time())


# Each is refused by PyJWT; the fast check must not accept it (it falls back, PyJWT refuses).
def near_misses() -> dict[str, tuple[Any, Any, str, str | None]]:
    """Built when a test runs: the times are relative to that moment."""
    return {
        "expired beyond the leeway": (
            {"alg": "HS256"},
            supabase(exp=now() - LEEWAY - 2),
            SECRET,
            None,
        ),
        "issued in the future": (
            {"alg": "HS256"},
            supabase(iat=now() + LEEWAY + 60),
            SECRET,
            None,
        ),
        "not yet valid": ({"alg": "HS256"}, supabase(nbf=now() + LEEWAY + 60), SECRET, None),
        "nbf null": ({"alg": "HS256"}, supabase(nbf=None), SECRET, None),
        "another audience": ({"alg": "HS256"}, supabase(aud="anon"), SECRET, None),
        "audience list without ours": (
            {"alg": "HS256"},
            supabase(aud=["anon"]),
            SECRET,
            None,
        ),
        "no audience": ({"alg": "HS256"}, supabase(aud=DROP), SECRET, None),
        "no exp": ({"alg": "HS256"}, supabase(exp=DROP), SECRET, None),
        "no iat": ({"alg": "HS256"}, supabase(iat=DROP), SECRET, None),
        "exp null": ({"alg": "HS256"}, supabase(exp=None), SECRET, None),
        "exp text": ({"alg": "HS256"}, supabase(exp="soon"), SECRET, None),
        "sub a number": ({"alg": "HS256"}, supabase(sub=12), SECRET, None),
        "jti a number": ({"alg": "HS256"}, supabase(jti=12), SECRET, None),
        "signed with another secret": ({"alg": "HS256"}, supabase(), OTHER, None),
        "header says HS384": ({"alg": "HS384"}, supabase(), SECRET, None),
        "header says none": ({"alg": "none"}, supabase(), SECRET, None),
        "no alg": ({"typ": "JWT"}, supabase(), SECRET, None),
        "kid not a string": ({"alg": "HS256", "kid": 7}, supabase(), SECRET, None),
        "unknown critical header": (
            {"alg": "HS256", "crit": ["exp"]},
            supabase(),
            SECRET,
            None,
        ),
        "issuer required, none given": (
            {"alg": "HS256"},
            supabase(iss=DROP),
            SECRET,
            ISSUER,
        ),
        "another issuer": (
            {"alg": "HS256"},
            supabase(iss="https://evil.example"),
            SECRET,
            ISSUER,
        ),
        "payload not an object": ({"alg": "HS256"}, ["aud", "authenticated"], SECRET, None),
    }


@pytest.mark.parametrize("case", list(near_misses()))
def test_the_fast_check_accepts_nothing_pyjwt_refuses(case: str) -> None:
    header, claims, secret, issuer = near_misses()[case]
    token = assemble(header, claims, secret)
    assert pyjwt(token, issuer) is None
    assert fast(token, issuer) is None


def test_claims_are_parsed_as_pyjwt_parses_them() -> None:
    """Integers beyond 64 bits (orjson would read them as floats) and duplicate names."""
    big = assemble({"alg": "HS256"}, {**supabase(), "n": -(2**63) - 1, "m": 2**70}, SECRET)
    accepted = fast(big, None)
    assert accepted is not None
    assert accepted == pyjwt(big, None)
    assert (accepted["n"], accepted["m"]) == (-(2**63) - 1, 2**70)


def test_tampered_tokens_are_left_to_pyjwt() -> None:
    token = assemble({"alg": "HS256"}, supabase(), SECRET)
    head, body, sig = token.split(".")
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    junk = f"{head}.{body}.{sig[:20]}!{sig[21:]}"
    swapped = f"{head}.{b64url(json.dumps(supabase()).encode())}.{sig}"
    for bad in (f"{head}.{body}.{flipped}", junk, swapped, token + "x", token[:-1]):
        assert fast(bad, None) is None
        assert pyjwt(bad, None) is None


# ------------------------------------------------------------------------ generated tokens

times = st.one_of(
    st.integers(min_value=-3 * LEEWAY, max_value=3 * LEEWAY).map(lambda d: now() + d),
    st.floats(min_value=-3 * LEEWAY, max_value=3 * LEEWAY).map(lambda d: now() + d),
    st.sampled_from([None, True, False, "1", "", 0, 2**70]),
)
audiences = st.one_of(
    st.sampled_from([AUDIENCE, "anon", "", None, 1]),
    st.lists(st.sampled_from([AUDIENCE, "anon", 3]), max_size=3),
)
headers = st.fixed_dictionaries(
    {"alg": st.sampled_from(["HS256", "HS256", "HS384", "none", "RS256", 1])},
    optional={
        "typ": st.sampled_from(["JWT", 1, None]),
        "kid": st.sampled_from(["k1", 1, None]),
        "crit": st.just(["b64"]),
        "b64": st.booleans(),
        "extra": st.text(max_size=3),
    },
)
claim_sets = st.fixed_dictionaries(
    {},
    optional={
        "exp": times,
        "iat": times,
        "nbf": times,
        "aud": audiences,
        "sub": st.sampled_from([str(uuid.uuid4()), "not-a-uuid", 5, None]),
        "iss": st.sampled_from([ISSUER, "https://evil.example", 3]),
        "jti": st.sampled_from(["j", 9, None]),
        "role": st.sampled_from(["authenticated", "anon"]),
    },
)


@hypothesis_settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    header=headers,
    claims=claim_sets,
    secret=st.sampled_from([SECRET, SECRET, OTHER]),
    padded=st.booleans(),
    issuer=st.sampled_from([None, ISSUER]),
    mutation=st.one_of(st.none(), st.tuples(st.integers(min_value=0), st.characters())),
)
def test_whatever_the_fast_check_accepts_pyjwt_accepts_with_the_same_claims(
    header: dict[str, Any],
    claims: dict[str, Any],
    secret: str,
    padded: bool,
    issuer: str | None,
    mutation: tuple[int, str] | None,
) -> None:
    token = assemble(header, claims, secret, padded)
    if mutation is not None:
        at, character = mutation
        at %= len(token)
        token = token[:at] + character + token[at + 1 :]
    accepted = fast(token, issuer)
    if accepted is not None:
        assert pyjwt(token, issuer) == accepted


REGISTERED = {"exp", "iat", "nbf", "aud", "sub", "iss", "jti", "role"}


@hypothesis_settings(max_examples=150, deadline=None)
@given(
    exp=st.integers(min_value=-LEEWAY + 5, max_value=10**9).map(lambda d: now() + d),
    iat=st.integers(min_value=-(10**9), max_value=LEEWAY - 5).map(lambda d: now() + d),
    typ=st.sampled_from([None, "JWT", "at+jwt"]),
    kid=st.sampled_from([None, "unknown-kid"]),
    issuer=st.sampled_from([None, ISSUER]),
    extra=st.dictionaries(
        st.text(max_size=5).filter(lambda name: name not in REGISTERED),
        st.integers() | st.text(max_size=5),
        max_size=3,
    ),
)
def test_every_plainly_valid_token_takes_the_fast_check(
    exp: int, iat: int, typ: str | None, kid: str | None, issuer: str | None, extra: Any
) -> None:
    """The other direction, for the usual case only: a valid HS256 token with integer times,
    our audience and a plain header is accepted here (else the fast check would not be the
    one serving requests), with PyJWT's claims."""
    header = {"alg": "HS256", **({"typ": typ} if typ else {}), **({"kid": kid} if kid else {})}
    claims = {**extra, **supabase(exp=exp, iat=iat, iss=issuer or DROP)}
    token = assemble(header, claims, SECRET)
    accepted = fast(token, issuer)
    assert accepted is not None
    assert accepted == pyjwt(token, issuer)


def test_unusual_but_valid_tokens_are_left_to_pyjwt() -> None:
    """Valid for PyJWT, not plain enough for the fast check: PyJWT decides (and accepts)."""
    for token in (
        assemble({"alg": "HS256"}, supabase(exp=float(now() + 600)), SECRET),
        assemble({"alg": "HS256"}, supabase(aud=[AUDIENCE, "other"]), SECRET),
        assemble({"alg": "HS256"}, supabase(), SECRET, padded=True),
        assemble({"alg": "HS256", "cty": "JWT"}, supabase(), SECRET),
    ):
        assert fast(token, None) is None
        assert pyjwt(token, None) is not None
