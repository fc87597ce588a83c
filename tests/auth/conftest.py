"""Auth test kit: real keys, a real JWKS HTTP server, token builders and both transports.

Nothing of `mediqom.auth` is mocked: tokens are signed with real keys (`cryptography`), the
JWKS is served over HTTP from 127.0.0.1, REST goes through the Django stack and WebSockets
through `config.asgi.application`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from mediqom.auth.tokens import jwks_cache

UNAUTHORIZED = {"message": "Unauthorized", "code": "not_authenticated", "fields": {}}
EC_KID = "ec-key-1"
RSA_KID = "rsa-key-1"
ROTATED_KID = "ec-key-2"
PROJECT_REF = "abcdefgh"
PROJECT_URL = f"https://{PROJECT_REF}.supabase.co"
COOKIE = f"sb-{PROJECT_REF}-auth-token"
DROP = object()  # claim value meaning "leave this claim out"


# ------------------------------------------------------------------------------------ keys


@dataclass(frozen=True)
class Keys:
    ec: ec.EllipticCurvePrivateKey
    rsa: rsa.RSAPrivateKey
    rotated_ec: ec.EllipticCurvePrivateKey
    attacker_ec: ec.EllipticCurvePrivateKey
    attacker_rsa: rsa.RSAPrivateKey

    def jwk(self, key: Any, kid: str) -> dict[str, Any]:
        public = key.public_key()
        if isinstance(public, ec.EllipticCurvePublicKey):
            data = jwt.algorithms.ECAlgorithm.to_jwk(public, as_dict=True)
            alg = "ES256"
        else:
            data = jwt.algorithms.RSAAlgorithm.to_jwk(public, as_dict=True)
            alg = "RS256"
        return {**data, "kid": kid, "alg": alg, "use": "sig"}

    def default_document(self) -> dict[str, Any]:
        return {"keys": [self.jwk(self.ec, EC_KID), self.jwk(self.rsa, RSA_KID)]}


def public_pem(key: Any) -> bytes:
    return bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys(
        ec=ec.generate_private_key(ec.SECP256R1()),
        rsa=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        rotated_ec=ec.generate_private_key(ec.SECP256R1()),
        attacker_ec=ec.generate_private_key(ec.SECP256R1()),
        attacker_rsa=rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


# ------------------------------------------------------------------------ JWKS HTTP server


class JwksServer:
    """A real HTTP server on 127.0.0.1 serving a mutable JWKS document; counts its requests."""

    def __init__(self) -> None:
        self.body: bytes = b'{"keys": []}'
        self.status = 200
        self.delay = 0.0
        self.requests = 0
        # When `hold` is set up, a request waits until it is released (or `hold_limit` passes);
        # `received` tells that a request has arrived.
        self.hold: threading.Event | None = None
        self.hold_limit = 30.0
        self.received = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._lock:
                    server.requests += 1
                    body, status, delay = server.body, server.status, server.delay
                    hold = server.hold
                server.received.set()
                if hold is not None:
                    hold.wait(timeout=server.hold_limit)
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/auth/v1/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> JwksServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def serve(self, document: Any, *, status: int = 200) -> None:
        with self._lock:
            self.body = document if isinstance(document, bytes) else json.dumps(document).encode()
            self.status = status

    def reset(self, document: Any) -> None:
        self.serve(document)
        with self._lock:
            self.requests = 0
            self.delay = 0.0
            self.hold = None
            self.received.clear()


@pytest.fixture(scope="session")
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer().start()
    yield server
    server.stop()


@pytest.fixture
def jwks(jwks_server: JwksServer, keys: Keys, settings: Any) -> Iterator[JwksServer]:
    """The JWKS server holding the trusted EC and RSA keys, wired into settings, cache empty."""
    jwks_server.reset(keys.default_document())
    settings.SUPABASE_JWKS_URL = jwks_server.url
    jwks_cache.reset()
    yield jwks_server
    jwks_cache.reset()


# -------------------------------------------------------------------------------- tokens


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def supabase_claims(user_id: uuid.UUID | None = None, **overrides: Any) -> dict[str, Any]:
    """Claims shaped like a Supabase access token; an override of DROP removes the claim."""
    now = int(time.time())
    user_id = user_id or uuid.uuid4()
    claims: dict[str, Any] = {
        "aud": "authenticated",
        "exp": now + 3600,
        "iat": now,
        "sub": str(user_id),
        "email": f"{user_id.hex[:8]}@example.test",
        "phone": "",
        "role": "authenticated",
        "aal": "aal1",
        "session_id": str(uuid.uuid4()),
        "is_anonymous": False,
        "app_metadata": {"provider": "email", "providers": ["email"]},
        "user_metadata": {},
    }
    if django_settings.MEDIQOM_JWT_ISSUER:
        claims["iss"] = django_settings.MEDIQOM_JWT_ISSUER
    for name, value in overrides.items():
        if value is DROP:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def sign(claims: dict[str, Any], key: Any, algorithm: str, **headers: Any) -> str:
    """A token signed by PyJWT with a real key (headers such as kid go into the header)."""
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers or None)


def hs256(claims: dict[str, Any], secret: str | None = None, **headers: Any) -> str:
    return sign(claims, secret or django_settings.SUPABASE_JWT_SECRET, "HS256", **headers)


def raw_token(
    header: dict[str, Any], claims: dict[str, Any], signer: Callable[[bytes], bytes] | None
) -> str:
    """A token assembled by hand, for shapes PyJWT refuses to produce (alg none, HMAC with a
    public key as secret, a header lying about the algorithm)."""
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    signature = signer(signing_input.encode("ascii")) if signer else b""
    return f"{signing_input}.{b64url(signature)}"


def hmac_signer(secret: bytes) -> Callable[[bytes], bytes]:
    return lambda data: hmac.new(secret, data, hashlib.sha256).digest()


def es256_signer(key: ec.EllipticCurvePrivateKey) -> Callable[[bytes], bytes]:
    algorithm = jwt.algorithms.ECAlgorithm(jwt.algorithms.ECAlgorithm.SHA256)
    return lambda data: algorithm.sign(data, key)


def rs256_signer(key: rsa.RSAPrivateKey) -> Callable[[bytes], bytes]:
    algorithm = jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA256)
    return lambda data: algorithm.sign(data, key)


# ---------------------------------------------------------------------------- cookies


def session_json(token: str) -> str:
    return json.dumps(
        {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": 3600,
            "refresh_token": "m2x7k4q9w1zr",
            "user": {"id": "x"},
        },
        separators=(",", ":"),
    )


def base64_cookie_value(token: str) -> str:
    """The @supabase/ssr default encoding: `base64-` + base64url(JSON session)."""
    return "base64-" + b64url(session_json(token).encode())


def chunk(name: str, value: str, size: int) -> dict[str, str]:
    """Split a cookie value into `name.0`, `name.1`, … like @supabase/ssr does."""
    parts = [value[i : i + size] for i in range(0, len(value), size)]
    return {f"{name}.{index}": part for index, part in enumerate(parts)}


def cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


# ------------------------------------------------------------------------- transports


@dataclass(frozen=True)
class Credentials:
    """What a client sends: an Authorization header value and/or a raw Cookie header."""

    authorization: str | None = None
    cookie: str | None = None

    @classmethod
    def bearer(cls, token: str) -> Credentials:
        return cls(authorization=f"Bearer {token}")

    @classmethod
    def cookies(cls, cookies: dict[str, str]) -> Credentials:
        return cls(cookie=cookie_header(cookies))


def rest_get(credentials: Credentials, path: str = "/v1/med/user") -> Any:
    """GET through the whole Django stack with exactly these headers."""
    extra: dict[str, str] = {}
    if credentials.authorization is not None:
        extra["HTTP_AUTHORIZATION"] = credentials.authorization
    if credentials.cookie is not None:
        extra["HTTP_COOKIE"] = credentials.cookie
    return APIClient().get(path, **extra)


@dataclass
class WsResult:
    accepted: bool
    close_code: int | None
    hello: dict[str, Any] | None = field(default=None)


async def ws_connect(credentials: Credentials) -> WsResult:
    """Open `/v1/ws` on the real ASGI application; on acceptance read the hello message."""
    from channels.testing import WebsocketCommunicator

    from config.asgi import application

    headers = [(b"origin", b"http://localhost")]
    if credentials.authorization is not None:
        headers.append((b"authorization", credentials.authorization.encode("latin-1")))
    if credentials.cookie is not None:
        headers.append((b"cookie", credentials.cookie.encode("latin-1")))
    communicator = WebsocketCommunicator(application, "/v1/ws", headers=headers)
    accepted, code = await communicator.connect(timeout=5)
    hello = None
    if accepted:
        hello = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        code = None
    return WsResult(accepted=bool(accepted), close_code=code, hello=hello)


@pytest.fixture
async def ws_db(transactional_db: None) -> Any:
    """Transactional database for WebSocket tests. Afterwards the connections opened by
    `database_sync_to_async` in the consumer stack are closed, so that the test database can
    be dropped at the end of the run (they live outside the test's own connection)."""
    from channels.db import database_sync_to_async
    from django.db import connections

    yield
    await database_sync_to_async(connections.close_all)()


# ------------------------------------------------------------------------------- logs


@dataclass
class RawRecord:
    """A log record as it was emitted, before any handler filter (redaction) touched it."""

    name: str
    message: str
    attributes: dict[str, str]

    def text(self) -> str:
        return "\n".join([self.message, *self.attributes.values()])


class _SnapshotHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[RawRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = f"{record.msg!r} % {record.args!r}"
        attributes = {name: repr(value) for name, value in record.__dict__.items()}
        if record.exc_info:
            attributes["exc_text"] = logging.Formatter().formatException(record.exc_info)
        self.records.append(RawRecord(record.name, message, attributes))


@pytest.fixture
def raw_mediqom_logs() -> Iterator[list[RawRecord]]:
    """Every `mediqom.*` record at DEBUG, snapshotted before the redacting handler runs, so a
    token that only the redaction filter would hide still counts as logged."""
    logger = logging.getLogger("mediqom")
    handler = _SnapshotHandler()
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    logger.handlers.insert(0, handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
