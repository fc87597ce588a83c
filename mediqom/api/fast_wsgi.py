"""WSGI front of the REST API: the hottest read without Django's handler, middleware and DRF.

`FastReads(application)` answers `GET /v1/med/profiles/{pid}/documents` (no query, or only
`full=true` / `full=false`) itself when nothing about the request is unusual: a Bearer token
that verifies, a plain JSON `Accept`, an allowed host, no redirect to HTTPS due. The answer is
the view's (mediqom/records/fast_reads.py: same body, same audit rows, RLS on), with the
headers the middleware stack adds (request id, CORS, security headers, DRF's `Allow`);
tests/records/test_fast_reads.py compares both, headers included.

Everything else goes to Django unchanged: other paths and methods, other query parameters,
cookie-only auth, any token problem (the view answers 401 with its envelope), a profile that is
not visible (404), a first request (the view creates the profile), database errors.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from mediqom.api.base import client_ip_of
from mediqom.api.middleware import CORS_HEADERS, SAFE_REQUEST_ID
from mediqom.audit.services import AuditContext
from mediqom.auth.tokens import InvalidToken, verify_token
from mediqom.auth.transport import bearer_from_header
from mediqom.records import fast_reads

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_DOCUMENTS = re.compile(
    r"/v1/med/profiles/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/documents"
)
_FULL = {"": False, "full=false": False, "full=true": True}
# Accept headers DRF's negotiation maps to the JSON renderer without parameters.
_ACCEPT = {"", "*/*", "application/json", "application/json, text/plain, */*"}
_MAX_HOSTS = 64


class FastReads:
    """Serves the document list itself when it can, otherwise hands the request to `app`."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        self._hosts: dict[str, bool] = {}

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "GET" and not environ.get("SCRIPT_NAME"):
            match = _DOCUMENTS.fullmatch(environ.get("PATH_INFO", ""))
            if match is not None:
                answer = self._documents(environ, match.group(1))
                if answer is not None:
                    headers, body = answer
                    start_response("200 OK", headers)
                    return [body]
        return self.app(environ, start_response)

    def _documents(
        self, environ: dict[str, Any], profile_id: str
    ) -> tuple[list[tuple[str, str]], bytes] | None:
        full = _FULL.get(environ.get("QUERY_STRING", ""))
        if full is None or environ.get("HTTP_ACCEPT", "") not in _ACCEPT:
            return None
        secure = _is_secure(environ)
        if settings.SECURE_SSL_REDIRECT and not secure:
            return None  # SecurityMiddleware redirects
        if not self._host_allowed(environ, secure):
            return None  # Django answers 400
        try:
            token = bearer_from_header(environ.get("HTTP_AUTHORIZATION"))
            if token is None:
                return None
            user = verify_token(token)
        except InvalidToken:
            return None  # the view logs and answers 401
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        audit = AuditContext(actor_id=user.id, ip=client_ip_of(environ), request_id=request_id)
        body = fast_reads.documents_list(user, audit, uuid.UUID(profile_id), full)
        if body is None:
            return None
        return _headers(len(body), request_id, secure), body

    def _host_allowed(self, environ: dict[str, Any], secure: bool) -> bool:
        """Django's `get_host()` check (ALLOWED_HOSTS), remembered per host."""
        if settings.USE_X_FORWARDED_HOST or settings.USE_X_FORWARDED_PORT:
            return False  # rare: Django decides
        host = environ.get("HTTP_HOST")
        if host is None:  # HTTP/1.0, or a client that sends no Host: PEP 333's reconstruction
            host = str(environ.get("SERVER_NAME", ""))
            port = str(environ.get("SERVER_PORT", ""))
            if port != ("443" if secure else "80"):
                host = f"{host}:{port}"
        known = self._hosts.get(host)
        if known is None:
            allowed = settings.ALLOWED_HOSTS
            if settings.DEBUG and not allowed:
                allowed = [".localhost", "127.0.0.1", "[::1]"]
            domain, _ = split_domain_port(host)
            known = bool(domain and validate_host(domain, allowed))
            if len(self._hosts) < _MAX_HOSTS:
                self._hosts[host] = known
        return known


def _is_secure(environ: dict[str, Any]) -> bool:
    """`HttpRequest.is_secure()`: the trusted proxy header, else the WSGI scheme."""
    if settings.SECURE_PROXY_SSL_HEADER:
        header, secure_value = settings.SECURE_PROXY_SSL_HEADER
        value = environ.get(header)
        if value is not None:
            return bool(value.split(",")[0].strip() == secure_value)
    return bool(environ.get("wsgi.url_scheme") == "https")


def _headers(length: int, request_id: str, secure: bool) -> list[tuple[str, str]]:
    """What DRF (Allow, Content-Type) and the middleware (Content-Length, security headers,
    X-Frame-Options, X-Request-ID, CORS) put on the view's 200."""
    headers = [
        ("Content-Type", "application/json"),
        ("Allow", "GET, POST, HEAD, OPTIONS"),
    ]
    if settings.SECURE_HSTS_SECONDS and secure:
        sts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            sts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            sts += "; preload"
        headers.append(("Strict-Transport-Security", sts))
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append(("X-Content-Type-Options", "nosniff"))
    policy = settings.SECURE_REFERRER_POLICY
    if policy:
        values = policy.split(",") if isinstance(policy, str) else policy
        headers.append(("Referrer-Policy", ",".join(value.strip() for value in values)))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers.append(("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
    headers.append(("Content-Length", str(length)))
    headers.append(("X-Frame-Options", settings.X_FRAME_OPTIONS.upper()))
    headers += list(CORS_HEADERS.items())
    headers.append(("X-Request-ID", request_id))
    return headers
