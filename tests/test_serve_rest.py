"""The README's production REST command (scripts/serve-rest.sh: granian, WSGI) serves the API
with production settings against real PostgreSQL (RLS on): writes through the DRF views, the
document list through the fast path with its audit rows, 401/404 envelopes, security headers."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from mediqom.audit.models import AuditEvent
from mediqom.audit.services import record_ids
from tests.conftest import database_url, free_port, persona, token_for
from tests.records.conftest import document_body

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="production runs PostgreSQL"),
]


@pytest.fixture
def rest_server(tmp_path: Path) -> Iterator[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MEDIQOM_", "DJANGO_"))}
    port = free_port()
    env = {
        **clean,
        "MEDIQOM_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": database_url(),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "SUPABASE_JWT_SECRET": settings.SUPABASE_JWT_SECRET,
        "MEDIQOM_FIELD_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
        "MEDIQOM_VAR_DIR": str(tmp_path / "var"),
        "MEDIQOM_STATIC_ROOT": str(tmp_path / "static"),
        "WEB_CONCURRENCY": "1",
        "REST_THREADS": "2",
    }
    log = tmp_path / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(ROOT / "scripts" / "serve-rest.sh"), "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2):  # noqa: S310 - local
                break
        except urllib.error.HTTPError:
            break  # it answers
        except OSError:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the REST server did not start: " + log.read_text()
            time.sleep(0.2)
    yield base
    process.terminate()
    try:
        process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait()
    assert "Traceback" not in log.read_text()


def call(
    method: str, url: str, token: str | None = None, body: Any = None, **headers: str
) -> tuple[int, Any, bytes]:
    request = urllib.request.Request(  # noqa: S310 - loopback http only
        url,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            return response.status, response.headers, response.read()  # case-insensitive
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def test_the_production_command_serves_the_api(rest_server: str) -> None:
    alice, bob = persona("alice-serve@example.test"), persona("bob-serve@example.test")
    token = token_for(alice)
    documents = f"{rest_server}/v1/med/profiles/{alice.id}/documents"
    for _ in range(3):
        status, _, body = call(
            "POST", documents, token, document_body(author=alice.id, profile=alice.id)
        )
        assert status == 200, body
    before = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0

    status, headers, body = call("GET", documents + "?full=true", token, X_Request_ID="req-serve-1")
    assert status == 200, body
    listed = json.loads(body)
    assert len(listed) == 3
    assert all(len(item["keys"]) == 1 for item in listed)
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Request-ID"] == "req-serve-1"
    rows = list(
        AuditEvent.objects.filter(id__gt=before)
        .order_by("id")
        .values_list("record_type", "action", "record_id", "request_id")
    )
    assert [(t, a, len(record_ids(r)), q) for t, a, r, q in rows] == [
        ("document", "list", 3, "req-serve-1"),
        ("key", "list", 3, "req-serve-1"),
    ]

    status, _, body = call("GET", documents)
    assert status == 401
    assert json.loads(body)["code"] == "not_authenticated"
    status, _, body = call("GET", documents, token_for(bob))
    assert status == 404
    assert set(json.loads(body)) == {"message", "code", "fields"}
    status, headers, _ = call("GET", documents, token, X_Forwarded_Proto="https")
    assert status == 200
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    assert headers["X-Content-Type-Options"] == "nosniff"
