"""Supabase access-token verification: HS256 shared secret and JWKS (ES256/RS256) keys.

The algorithm comes from the key, never from the token header: a token whose `kid` is in
the project's JWKS is verified with that key's algorithm only; any other token is verified as
HS256 with the shared secret (when one is configured). Unknown kids trigger at most one JWKS
refetch per MEDIQOM_JWKS_MIN_REFRESH_SECONDS; known kids are refetched once the keys are older
than MEDIQOM_JWKS_MAX_AGE_SECONDS (default 600), so a key revoked upstream stops working.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
import orjson
from django.conf import settings

from mediqom.logging import get_logger

log = get_logger("auth")

AUDIENCE = "authenticated"
_JWK_ALGORITHMS = {"EC": "ES256", "RSA": "RS256"}
_ALLOWED_ASYMMETRIC = {"ES256", "RS256"}
_FORBIDDEN_HEADERS = ("jku", "jwk", "x5u", "x5c")


class InvalidToken(Exception):
    """The token is missing, malformed, expired or not signed by a trusted key."""


@dataclass(frozen=True)
class SupabaseUser:
    """The authenticated caller: the Supabase auth user id (`sub`) and its verified claims."""

    id: uuid.UUID
    claims: dict[str, Any] = field(repr=False, compare=False)

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False

    @property
    def pk(self) -> uuid.UUID:
        return self.id

    @property
    def email(self) -> str | None:
        value = self.claims.get("email")
        return value if isinstance(value, str) and value else None

    def __str__(self) -> str:
        return f"user:{self.id}"


class JWKSCache:
    """Keys of the project's JWKS by kid, refetched on an unknown kid at most once per interval."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[Any, str]] = {}
        self._fetched_at: float | None = None
        self._url = ""

    def reset(self) -> None:
        with self._lock:
            self._keys = {}
            self._fetched_at = None

    def get(self, kid: str) -> tuple[Any, str] | None:
        """The (key, algorithm) for a kid, or None when the JWKS does not hold it."""
        url = settings.SUPABASE_JWKS_URL
        if not url:
            return None
        with self._lock:
            if url != self._url:
                self._url, self._keys, self._fetched_at = url, {}, None
            interval = settings.MEDIQOM_JWKS_MIN_REFRESH_SECONDS
            max_age = max(interval, settings.MEDIQOM_JWKS_MAX_AGE_SECONDS)
            now = time.monotonic()
            age = None if self._fetched_at is None else now - self._fetched_at
            if kid in self._keys and age is not None and age < max_age:
                return self._keys[kid]
            if age is not None and age < interval:
                return None
            self._fetched_at = now
            try:
                self._keys = self._fetch(url)
            except (OSError, ValueError, RecursionError, jwt.PyJWTError) as exc:
                log.warning("JWKS fetch failed: %s", type(exc).__name__)
            return self._keys.get(kid)

    @staticmethod
    def _fetch(url: str) -> dict[str, tuple[Any, str]]:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - URL from settings
            document = json.loads(response.read(1_000_000))
        entries = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise ValueError("JWKS document without a key list")
        keys: dict[str, tuple[Any, str]] = {}
        skipped = 0
        for jwk in entries:
            if not isinstance(jwk, dict):
                skipped += 1
                continue
            kid, kty = jwk.get("kid"), jwk.get("kty")
            if not isinstance(kid, str) or not kid or not isinstance(kty, str):
                skipped += 1
                continue
            algorithm = jwk.get("alg") or _JWK_ALGORITHMS.get(kty)
            if not isinstance(algorithm, str) or algorithm not in _ALLOWED_ASYMMETRIC:
                continue  # symmetric or unknown keys are never taken from a JWKS
            if _JWK_ALGORITHMS.get(kty) != algorithm:
                continue
            try:
                key = jwt.PyJWK.from_dict(jwk, algorithm=algorithm).key
            except jwt.PyJWTError:
                skipped += 1  # one malformed key must not disable the others
                continue
            keys[kid] = (key, algorithm)
        log.info("JWKS loaded with %d keys (%d unusable skipped)", len(keys), skipped)
        return keys


jwks_cache = JWKSCache()

# --------------------------------------------------------------------------- HS256, the usual case

# Three unpadded base64url segments; an HS256 signature is 32 bytes = 43 characters.
_HS256_SHAPE = re.compile(rb"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}")
_PLAIN_HEADER_KEYS = frozenset({"alg", "typ", "kid"})
_hmac_keys: dict[str, bytes | None] = {}


def _hmac_key(secret: str) -> bytes | None:
    """The shared secret as PyJWT prepares it for HS256 (it refuses PEM, SSH, DER and JWK
    shaped secrets), once per secret value; None when PyJWT would refuse or warn about it, so
    that such tokens keep going through `jwt.decode`."""
    if secret not in _hmac_keys:
        algorithm = jwt.algorithms.HMACAlgorithm(jwt.algorithms.HMACAlgorithm.SHA256)
        try:
            key: bytes | None = algorithm.prepare_key(secret)
        except jwt.PyJWTError:
            key = None
        if key is not None and algorithm.check_key_length(key):
            key = None
        _hmac_keys.clear()
        _hmac_keys[secret] = key
    return _hmac_keys[secret]


def _is_int(value: Any) -> bool:
    return type(value) is int


def _hs256_claims(
    token: str, header: dict[str, Any], secret: str, issuer: str | None, leeway: float
) -> dict[str, Any] | None:
    """The claims of an ordinary HS256 token whose signature and claims are valid, or None.

    Every request of the usual kind (a Supabase session token signed with the project secret)
    is verified here: the HMAC-SHA256 of the signing input compared in constant time with the
    signature, then the claims `jwt.decode` below is asked to check, with the same rules and
    the same clock. It only ever *accepts*: anything it does not recognise as plainly valid
    (other header fields, padding, non-integer times, an `aud` list, a failed check) returns
    None and the token goes through PyJWT, whose answer stands. So it accepts a subset of what
    PyJWT accepts, with the same claims (tests/auth/test_hs256_fast.py compares the two on
    generated and mutated tokens). Why: PyJWT checks each segment character by character in
    Python and prepares the key on every call, ~0.2 ms per request (bench/README.md, fifth
    round); this takes ~0.07 ms."""
    if header.get("alg") != "HS256" or not _PLAIN_HEADER_KEYS.issuperset(header):
        return None
    if not all(isinstance(header.get(name, ""), str) for name in ("typ", "kid")):
        return None
    raw = token.encode()
    if _HS256_SHAPE.fullmatch(raw) is None:
        return None
    key = _hmac_key(secret)
    if key is None:
        return None
    signing_input, _, signature = raw.rpartition(b".")
    payload_segment = signing_input.partition(b".")[2]
    if len(payload_segment) % 4 == 1:
        return None
    try:
        expected = base64.urlsafe_b64decode(signature + b"=")
        if not hmac.compare_digest(hmac.digest(key, signing_input, "sha256"), expected):
            return None
        padding = b"=" * (-len(payload_segment) % 4)
        # stdlib json as PyJWT parses it: orjson reads integers beyond 64 bits as floats,
        # so the claims would differ (tests/auth/test_hs256_fast.py found one)
        claims = json.loads(base64.urlsafe_b64decode(payload_segment + padding))
    except (ValueError, binascii.Error, RecursionError):
        return None
    if not isinstance(claims, dict):
        return None
    if any(claims.get(name) is None for name in ("exp", "iat", "sub", "aud")):
        return None
    now = time.time()
    exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf", 0)
    if not (_is_int(exp) and _is_int(iat) and _is_int(nbf)):
        return None
    if exp <= now - leeway or iat > now + leeway or nbf > now + leeway:
        return None
    if claims["aud"] != AUDIENCE or not isinstance(claims["sub"], str):
        return None
    if issuer is not None and claims.get("iss") != issuer:
        return None
    if not isinstance(claims.get("jti", ""), str):
        return None
    return claims


def _unverified_header(token: str) -> dict[str, Any]:
    """The token's header, only to choose the key: `jwt.decode` below checks the whole token
    again (segments, alphabet, `alg`, signature). PyJWT's own `get_unverified_header` parses and
    validates every segment character by character in Python, a second time per request
    (~70 us of the ~170 us a verification took; bench/README.md, fourth round)."""
    segment = token.split(".", 1)[0]
    try:
        # orjson refuses nesting deeper than 1024 with a JSONDecodeError (stdlib json would
        # raise RecursionError); binascii.Error and JSONDecodeError are ValueErrors.
        header = orjson.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, TypeError, RecursionError) as exc:
        raise InvalidToken("malformed token") from exc
    if not isinstance(header, dict) or "." not in token:
        raise InvalidToken("malformed token")
    return header


def verify_token(token: str) -> SupabaseUser:
    """Verify a Supabase access token and return its user; raise InvalidToken otherwise."""
    if not token or len(token) > settings.MEDIQOM_JWT_MAX_BYTES:
        raise InvalidToken("token missing or oversized")
    header = _unverified_header(token)
    if any(name in header for name in _FORBIDDEN_HEADERS):
        raise InvalidToken("untrusted key reference in header")
    kid = header.get("kid")
    found = jwks_cache.get(kid) if isinstance(kid, str) and kid else None
    if found is not None:
        key, algorithm = found
    elif settings.SUPABASE_JWT_SECRET:
        key, algorithm = settings.SUPABASE_JWT_SECRET, "HS256"
    else:
        raise InvalidToken("no trusted key for token")
    issuer = settings.MEDIQOM_JWT_ISSUER or None
    leeway = settings.MEDIQOM_JWT_LEEWAY_SECONDS
    fast = _hs256_claims(token, header, key, issuer, leeway) if algorithm == "HS256" else None
    if fast is not None:
        return _user(fast)
    required = ["exp", "iat", "sub", "aud"] + (["iss"] if issuer else [])
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=AUDIENCE,
            issuer=issuer,
            leeway=leeway,
            options={"require": required},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(type(exc).__name__) from exc
    return _user(claims)


def _user(claims: dict[str, Any]) -> SupabaseUser:
    """The caller of verified claims: an authenticated-user token whose `sub` is a user id."""
    if claims.get("role") != "authenticated":
        raise InvalidToken("not an authenticated-user token")
    try:
        user_id = uuid.UUID(str(claims["sub"]))
    except ValueError as exc:
        raise InvalidToken("sub is not a user id") from exc
    return SupabaseUser(id=user_id, claims=claims)


def mint_token(
    user_id: uuid.UUID,
    *,
    email: str | None = None,
    lifetime_seconds: int = 3600,
    secret: str | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """An HS256 access token shaped like Supabase's (for dev_token and tests)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "aud": AUDIENCE,
        "exp": now + lifetime_seconds,
        "iat": now,
        "sub": str(user_id),
        "email": email or "",
        "phone": "",
        "role": "authenticated",
        "aal": "aal1",
        "session_id": str(uuid.uuid4()),
        "is_anonymous": False,
        "app_metadata": {"provider": "email", "providers": ["email"]},
        "user_metadata": {},
    }
    if settings.MEDIQOM_JWT_ISSUER:
        claims["iss"] = settings.MEDIQOM_JWT_ISSUER
    claims.update(extra or {})
    key = secret or settings.SUPABASE_JWT_SECRET
    if not key:
        raise InvalidToken("no signing secret configured")
    return jwt.encode(claims, key, algorithm="HS256")
