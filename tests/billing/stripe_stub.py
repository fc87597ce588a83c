"""A local stand-in for the Stripe API on 127.0.0.1 (ephemeral port), so the real `stripe`
client runs in tests: customers, checkout sessions (create, retrieve), billing-portal sessions.

It answers like Stripe (form-encoded requests, JSON objects, Stripe's error shape) for the
calls our server makes, and records every request so tests can check what was sent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlparse

import pytest

SECRET_KEY = "sk_test_stub_key"
WEBHOOK_SECRET = "whsec_test_stub_secret"
PRICES = {
    "caretaker.monthly": "price_caretaker_monthly",
    "caretaker.yearly": "price_caretaker_yearly",
    "family.monthly": "price_family_monthly",
    "family.yearly": "price_family_yearly",
    "pack_50": "price_pack_50",
}


@dataclass
class StubRequest:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass
class StripeStub:
    url: str = ""
    requests: list[StubRequest] = field(default_factory=list)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (status, body) answered to every API call while set
    fail_with: tuple[int, dict[str, Any]] | None = None
    counter: int = 0

    def calls(self, method: str, path: str) -> list[StubRequest]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}_test_{self.counter:04d}"


def _nested(params: dict[str, str], prefix: str) -> dict[str, str]:
    """`metadata[user_id]=x` → {"user_id": "x"} for one prefix."""
    start = f"{prefix}["
    return {k[len(start) : -1]: v for k, v in params.items() if k.startswith(start)}


def _error(status: int, message: str, code: str | None = None) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"type": "invalid_request_error", "message": message}
    if code:
        body["code"] = code
    return status, {"error": body}


def _handler(stub: StripeStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", "req_stub")
            self.end_headers()
            self.wfile.write(data)

        def _record(self) -> StubRequest:
            parsed = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else parsed.query
            request = StubRequest(
                method=self.command,
                path=parsed.path,
                params=dict(parse_qsl(raw, keep_blank_values=True)),
                headers={k.lower(): v for k, v in self.headers.items()},
            )
            stub.requests.append(request)
            return request

        def _dispatch(self) -> None:
            request = self._record()
            if request.headers.get("authorization") != f"Bearer {SECRET_KEY}":
                self._answer(*_error(401, "Invalid API Key provided"))
            elif stub.fail_with is not None:
                self._answer(*stub.fail_with)
            else:
                self._answer(*self._route(request))

        def _route(self, request: StubRequest) -> tuple[int, dict[str, Any]]:
            p = request.params
            if (request.method, request.path) == ("POST", "/v1/customers"):
                customer = {
                    "id": stub.next_id("cus"),
                    "object": "customer",
                    "email": p.get("email"),
                    "metadata": _nested(p, "metadata"),
                }
                stub.customers[customer["id"]] = customer
                return 200, customer
            if (request.method, request.path) == ("POST", "/v1/checkout/sessions"):
                if p.get("customer") not in stub.customers:
                    return _error(
                        400, f"No such customer: '{p.get('customer')}'", "resource_missing"
                    )
                session_id = stub.next_id("cs")
                embedded = p.get("ui_mode") == "embedded"
                session = {
                    "id": session_id,
                    "object": "checkout.session",
                    "mode": p.get("mode"),
                    "ui_mode": p.get("ui_mode", "hosted"),
                    "customer": p.get("customer"),
                    "url": None if embedded else f"https://checkout.stripe.test/c/pay/{session_id}",
                    "client_secret": f"{session_id}_secret_stub" if embedded else None,
                    "status": "open",
                    "payment_status": "unpaid",
                    "customer_details": None,
                    "metadata": _nested(p, "metadata"),
                }
                stub.sessions[session_id] = session
                return 200, session
            if request.method == "GET" and request.path.startswith("/v1/checkout/sessions/"):
                session_id = request.path.rsplit("/", 1)[1]
                if session_id not in stub.sessions:
                    return _error(
                        404, f"No such checkout.session: '{session_id}'", "resource_missing"
                    )
                return 200, stub.sessions[session_id]
            if (request.method, request.path) == ("POST", "/v1/billing_portal/sessions"):
                if p.get("customer") not in stub.customers:
                    return _error(
                        400, f"No such customer: '{p.get('customer')}'", "resource_missing"
                    )
                portal_id = stub.next_id("bps")
                return 200, {
                    "id": portal_id,
                    "object": "billing_portal.session",
                    "customer": p.get("customer"),
                    "return_url": p.get("return_url"),
                    "url": f"https://billing.stripe.test/p/session/{portal_id}",
                }
            if request.method == "DELETE" and request.path.startswith("/v1/subscriptions/"):
                subscription_id = request.path.rsplit("/", 1)[1]
                subscription = stub.subscriptions.get(subscription_id)
                if subscription is None:
                    return _error(
                        404, f"No such subscription: '{subscription_id}'", "resource_missing"
                    )
                if subscription["status"] == "canceled":
                    return _error(
                        400,
                        "A canceled subscription can only update its cancellation_details"
                        " and metadata.",
                    )
                subscription["status"] = "canceled"
                return 200, subscription
            return _error(404, f"Unrecognized request URL ({request.method}: {request.path})")

        def do_GET(self) -> None:
            self._dispatch()

        def do_POST(self) -> None:
            self._dispatch()

        def do_DELETE(self) -> None:
            self._dispatch()

    return Handler


@pytest.fixture
def stripe_stub(settings: Any) -> Iterator[StripeStub]:
    """Stripe configured (key, webhook secret, prices) and pointed at a local stub."""
    stub = StripeStub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = stub.url
    settings.STRIPE_PRICES = dict(PRICES)
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def sign(payload: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A Stripe-Signature header, made the way Stripe makes it."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"
