"""The document list's fast path (mediqom/api/fast_wsgi.py, mediqom/records/fast_reads.py)
against the DRF view, both reached as WSGI applications on real PostgreSQL with RLS.

The same request goes to Django's own WSGI handler (middleware, DRF, the view) and to
`FastReads` in front of it: status, headers and body must be identical, byte for byte, and so
must the audit rows. Requests the fast path does not handle (bad tokens, foreign profiles,
first requests) must reach the view and answer exactly what it answers.

Transactional tests: the fast path's pipeline is its own transaction, as in production.
"""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from config.wsgi import django_application
from mediqom.api.fast_wsgi import FastReads
from mediqom.audit.models import AuditEvent
from mediqom.audit.services import record_ids
from mediqom.auth.tokens import SupabaseUser
from mediqom.records import fast_reads
from mediqom.records.models import Document, Key, ProfileLink
from tests.conftest import make_user, ok, token_for
from tests.records.conftest import NOT_FOUND, document_body

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="fast path is PostgreSQL only"),
]

# Characters a hand-written JSON encoder gets wrong: quotes, backslashes, controls, U+2028,
# non-ASCII, astral plane.
TRICKY = 'm "quoted" \\ back\nline\ttab \x01\x1f é 日本 \u2028\u2029 😀 </script>'
REQUEST_ID = "fixed-request-id-0001"
fast = FastReads(django_application)


class Answer:
    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status_code = int(status.split()[0])
        self.headers = {name.lower(): value for name, value in headers}
        self.header_list = headers
        self.body = body


def call(app: Any, path: str, query: str = "", **headers: str | None) -> Answer:
    """One WSGI request, as gunicorn would make it."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "testserver",
        "HTTP_X_REQUEST_ID": REQUEST_ID,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    environ.update(headers)
    for name in [name for name, value in environ.items() if value is None]:
        del environ[name]  # a header the request does not send
    captured: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], *_: Any) -> None:
        captured["status"], captured["headers"] = status, list(response_headers)

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return Answer(captured["status"], captured["headers"], body)


def bearer(user: SupabaseUser) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token_for(user)}"}


def audit_rows(since: int) -> list[tuple[Any, ...]]:
    return list(
        AuditEvent.objects.filter(id__gt=since)
        .order_by("id")
        .values_list(
            "actor_id",
            "profile_id",
            "record_type",
            "record_id",
            "action",
            "outcome",
            "request_id",
            "ip",
        )
    )


def last_audit_id() -> int:
    row = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
    return row or 0


@pytest.fixture
def stored(alice: SupabaseUser, bob: SupabaseUser, client_for: Any) -> SupabaseUser:
    """Alice's profile with documents of every shape: attachments, tricky metadata, a grant
    to Bob (never listed to Alice), a key stamped on a whole second."""
    client = client_for(alice)
    bodies = [
        document_body(author=alice.id, profile=alice.id),
        document_body(author=alice.id, profile=alice.id, doc_type="health"),
        document_body(author=alice.id, profile=alice.id, metadata=TRICKY, content=TRICKY),
        document_body(author=alice.id, profile=alice.id, doc_type="profile"),
    ]
    for body in bodies:
        ok(client.post(f"/v1/med/profiles/{alice.id}/documents", body, format="json"))
    first = Document.objects.filter(profile_id=alice.id).order_by("created_at", "id").first()
    assert first is not None
    # Attachment refs as the client stores them (bare paths and JSON text), set directly: the
    # upload path is not under test here.
    refs = [f"{alice.id}/a.bin", '{"path": "' + str(alice.id) + '/b.bin", "name": "é \\"x\\""}']
    Document.objects.filter(pk=first.pk).update(attachments=refs)
    # A grant to Bob (a share): never listed to Alice, and no way into Alice's profile for Bob.
    Key.objects.create(
        document=first, owner_id=alice.id, user_id=bob.id, key="K", author_id=alice.id
    )
    Key.objects.filter(document_id=first.pk, user_id=alice.id).update(
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    )
    return alice


@pytest.mark.parametrize("query", ["full=true", "full=false", ""])
def test_the_fast_path_answers_the_views_bytes_headers_and_audit_rows(
    stored: SupabaseUser, query: str
) -> None:
    path = f"/v1/med/profiles/{stored.id}/documents"
    before = last_audit_id()
    view = call(django_application, path, query, **bearer(stored))
    assert view.status_code == 200, view.body[:300]
    between = last_audit_id()
    round_trips = fast_reads.trace.round_trips
    with CaptureQueriesContext(connection) as django_queries:
        answer = call(fast, path, query, **bearer(stored))
    assert answer.status_code == 200, answer.body[:300]
    assert fast_reads.trace.round_trips == round_trips + 1  # served by the fast path
    assert len(django_queries.captured_queries) == 0
    assert answer.body == view.body
    assert answer.headers == view.headers
    documents = view.body.count(b'"metadata"')
    assert documents == 4
    assert (b'"content"' in answer.body) is (query == "full=true")
    assert b"2026-01-02T03:04:05+00:00" in answer.body  # isoformat without microseconds
    assert b'"K"' not in answer.body  # Bob's grant is not Alice's to see
    view_rows, fast_rows = audit_rows(before)[: between - before], audit_rows(between)
    # 4 documents, each with Alice's one grant: one row for the documents, one for the grants
    assert [(row[2], len(record_ids(row[3]))) for row in view_rows] == [("document", 4), ("key", 4)]
    assert fast_rows == view_rows
    assert {row[6] for row in fast_rows} == {REQUEST_ID}


def test_an_empty_profile_is_an_empty_list_without_audit_rows(alice: SupabaseUser) -> None:
    path = f"/v1/med/profiles/{alice.id}/documents"
    before = last_audit_id()
    round_trips = fast_reads.trace.round_trips
    answer = call(fast, path, "full=true", **bearer(alice))
    assert answer.status_code == 200
    assert answer.body == b"[]" == call(django_application, path, **bearer(alice)).body
    assert fast_reads.trace.round_trips == round_trips + 1
    assert audit_rows(before) == []


def test_another_users_profile_is_the_views_404_and_leaks_nothing(
    stored: SupabaseUser, bob: SupabaseUser
) -> None:
    path = f"/v1/med/profiles/{stored.id}/documents"
    before = last_audit_id()
    view = call(django_application, path, "full=true", **bearer(bob))
    answer = call(fast, path, "full=true", **bearer(bob))
    assert answer.status_code == view.status_code == 404
    assert answer.body == view.body
    assert answer.headers == view.headers
    import json

    assert json.loads(answer.body) == NOT_FOUND
    # Bob holds a grant on one of Alice's documents, still nothing of hers is read or audited.
    assert audit_rows(before) == []
    missing = call(fast, f"/v1/med/profiles/{uuid.uuid4()}/documents", "", **bearer(bob))
    assert missing.status_code == 404
    assert missing.body == answer.body


def test_a_linked_parent_sees_only_the_documents_it_holds_a_grant_for(
    stored: SupabaseUser, bob: SupabaseUser
) -> None:
    """Bob may see Alice's profile (an approved link) and holds a grant on one of her four
    documents: that one is listed, with Bob's grant only; the other three are not read."""
    ProfileLink.objects.create(parent_id=bob.id, profile_id=stored.id, status="approved")
    path = f"/v1/med/profiles/{stored.id}/documents"
    for query in ("full=true", "full=false"):
        before = last_audit_id()
        view = call(django_application, path, query, **bearer(bob))
        between = last_audit_id()
        round_trips = fast_reads.trace.round_trips
        answer = call(fast, path, query, **bearer(bob))
        assert fast_reads.trace.round_trips == round_trips + 1  # served by the fast path
        assert view.status_code == answer.status_code == 200
        assert answer.body == view.body
        listed = orjson.loads(answer.body)
        assert [[key["key"] for key in item["keys"]] for item in listed] == [["K"]]
        assert audit_rows(between) == audit_rows(before)[: between - before]
        assert [(row[2], len(record_ids(row[3]))) for row in audit_rows(between)] == [
            ("document", 1),
            ("key", 1),
        ]


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer ", "Bearer not-a-token", "Basic abc", "tampered", "expired"],
)
def test_token_problems_are_the_views_401(stored: SupabaseUser, authorization: str | None) -> None:
    path = f"/v1/med/profiles/{stored.id}/documents"
    headers: dict[str, str] = {}
    if authorization == "tampered":
        token = token_for(stored)
        head, payload, signature = token.split(".")
        authorization = f"Bearer {head}.{payload}.{signature[:-2]}AA"
    elif authorization == "expired":
        from mediqom.auth.tokens import mint_token

        authorization = f"Bearer {mint_token(stored.id, lifetime_seconds=-3600)}"
    if authorization is not None:
        headers["HTTP_AUTHORIZATION"] = authorization
    before = last_audit_id()
    view = call(django_application, path, "full=true", **headers)
    answer = call(fast, path, "full=true", **headers)
    assert answer.status_code == view.status_code == 401
    assert answer.body == view.body
    assert answer.headers == view.headers
    assert audit_rows(before) == []


def test_a_first_request_is_left_to_the_view_which_creates_the_profile() -> None:
    newcomer = make_user()
    path = f"/v1/med/profiles/{newcomer.id}/documents"
    answer = call(fast, path, "full=true", **bearer(newcomer))
    assert answer.status_code == 200
    assert answer.body == b"[]"
    from mediqom.records.models import Profile

    assert Profile.objects.filter(pk=newcomer.id).exists()  # unscoped: test check


def test_a_request_without_host_header_is_checked_as_django_does(stored: SupabaseUser) -> None:
    """No Host header (wrk, HTTP/1.0): the host is SERVER_NAME[:SERVER_PORT], as in Django."""
    path = f"/v1/med/profiles/{stored.id}/documents"
    environ_host = {"HTTP_HOST": None}
    round_trips = fast_reads.trace.round_trips
    view = call(django_application, path, "full=true", **bearer(stored), **environ_host)
    answer = call(fast, path, "full=true", **bearer(stored), **environ_host)
    assert answer.status_code == view.status_code == 200
    assert fast_reads.trace.round_trips == round_trips + 1
    assert answer.body == view.body
    foreign = {"HTTP_HOST": None, "SERVER_NAME": "evil.example"}
    view = call(django_application, path, "full=true", **bearer(stored), **foreign)
    answer = call(fast, path, "full=true", **bearer(stored), **foreign)
    assert answer.status_code == view.status_code == 400
    assert fast_reads.trace.round_trips == round_trips + 1


@pytest.mark.parametrize(
    ("query", "extra"),
    [
        ("types=health", {}),
        ("full=yes", {}),
        ("full=true", {"HTTP_ACCEPT": "text/html"}),
        ("full=true", {"HTTP_ACCEPT": "application/json; indent=4"}),
        ("full=true", {"HTTP_HOST": "evil.example"}),
    ],
)
def test_unusual_requests_go_to_the_view(
    stored: SupabaseUser, query: str, extra: dict[str, str]
) -> None:
    path = f"/v1/med/profiles/{stored.id}/documents"
    round_trips = fast_reads.trace.round_trips
    view = call(django_application, path, query, **bearer(stored), **extra)
    answer = call(fast, path, query, **bearer(stored), **extra)
    assert fast_reads.trace.round_trips == round_trips
    assert answer.status_code == view.status_code
    if view.status_code == 200:
        assert answer.body == view.body


def test_production_security_headers_match_the_middleware(
    stored: SupabaseUser, settings: Any
) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    from django.core.handlers.wsgi import WSGIHandler

    django_app = WSGIHandler()  # the middleware reads these settings when it is built
    production = FastReads(django_app)
    path = f"/v1/med/profiles/{stored.id}/documents"
    https = {"HTTP_X_FORWARDED_PROTO": "https", **bearer(stored)}
    view = call(django_app, path, "full=true", **https)
    round_trips = fast_reads.trace.round_trips
    answer = call(production, path, "full=true", **https)
    assert answer.status_code == view.status_code == 200
    assert fast_reads.trace.round_trips == round_trips + 1
    assert answer.headers == view.headers
    assert "strict-transport-security" in answer.headers
    plain = call(production, path, "full=true", **bearer(stored))
    assert plain.status_code == 301  # the middleware's redirect to HTTPS
    assert fast_reads.trace.round_trips == round_trips + 1


def test_one_round_trip_and_two_statements_per_request(stored: SupabaseUser) -> None:
    path = f"/v1/med/profiles/{stored.id}/documents"
    for _ in range(7):  # past psycopg's prepare threshold as well
        statements, round_trips = fast_reads.trace.statements, fast_reads.trace.round_trips
        with CaptureQueriesContext(connection) as django_queries:
            ok(call(fast, path, "full=true", **bearer(stored)))  # type: ignore[arg-type]
        assert fast_reads.trace.statements == statements + 2  # RLS switch, the read
        assert fast_reads.trace.round_trips == round_trips + 1
        assert django_queries.captured_queries == []


def test_the_read_runs_under_the_users_rls_identity(stored: SupabaseUser) -> None:
    """RLS alone hides a foreign profile's documents, even from the fast path's own SQL."""
    from mediqom.audit.services import AuditContext

    stranger = make_user()
    from mediqom.records.services import profile_ensure

    profile_ensure(user=stranger)
    audit = AuditContext(actor_id=stranger.id, ip="127.0.0.1", request_id=REQUEST_ID)
    assert fast_reads.documents_list(stranger, audit, stored.id, True) is None  # 404 by the view
    with connection.cursor() as cursor:
        cursor.execute("select current_user, current_setting('request.jwt.claim.sub', true)")
        role, sub = cursor.fetchone()
    # Nothing outlives the pipeline's transaction.
    assert role != "authenticated"
    assert not sub


def test_unprepared_statements_answer_the_same(stored: SupabaseUser, settings: Any) -> None:
    """MEDIQOM_FAST_READS_PREPARE=false (PgBouncer without prepared statements): the same
    bytes, still one round trip, and nothing named is left on the connection."""
    path = f"/v1/med/profiles/{stored.id}/documents"
    view = call(django_application, path, "full=true", **bearer(stored))
    settings.MEDIQOM_FAST_READS_PREPARE = False
    connection.close()  # a fresh connection: nothing prepared on it by earlier tests
    for _ in range(3):
        round_trips = fast_reads.trace.round_trips
        answer = call(fast, path, "full=true", **bearer(stored))
        assert fast_reads.trace.round_trips == round_trips + 1
        assert answer.body == view.body
    with connection.cursor() as cursor:
        cursor.execute("select count(*) from pg_prepared_statements where name like 'mediqom_%%'")
        assert cursor.fetchone() == (0,)


@pytest.fixture
def persistent(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connections kept between requests, as in production (the suite closes them after each)."""
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", None)
    connection.close()


@pytest.mark.usefixtures("persistent")
def test_statements_dropped_on_the_server_are_prepared_again(stored: SupabaseUser) -> None:
    """A `DEALLOCATE ALL` (a pooler's reset) under the fast path: that request is answered by
    the view, the connection is replaced, and the next one is the fast path's again."""
    path = f"/v1/med/profiles/{stored.id}/documents"
    first = call(fast, path, "full=true", **bearer(stored))
    with connection.cursor() as cursor:
        cursor.execute("select count(*) from pg_prepared_statements where name like 'mediqom_%%'")
        assert cursor.fetchone() == (2,)  # the RLS switch and the read
        cursor.execute("deallocate all")
    before = last_audit_id()
    with CaptureQueriesContext(connection) as django_queries:
        again = call(fast, path, "full=true", **bearer(stored))
    assert again.status_code == 200
    assert again.body == first.body
    assert django_queries.captured_queries  # the view answered
    # the failed pipeline wrote nothing: only the view's audit rows
    assert [row[2] for row in audit_rows(before)] == ["document", "key"]
    round_trips = fast_reads.trace.round_trips
    with CaptureQueriesContext(connection) as django_queries:
        third = call(fast, path, "full=true", **bearer(stored))
    assert third.body == first.body
    assert fast_reads.trace.round_trips == round_trips + 1
    assert django_queries.captured_queries == []


@pytest.mark.usefixtures("persistent")
def test_a_connection_the_server_dropped_is_reopened_and_the_request_retried(
    stored: SupabaseUser,
) -> None:
    """No health check before each request: a backend that went away (restart, idle timeout)
    fails the pipeline, and the request is retried once on a new connection by the fast path
    itself, audited once."""
    path = f"/v1/med/profiles/{stored.id}/documents"
    first = call(fast, path, "full=true", **bearer(stored))
    with connection.cursor() as cursor:
        cursor.execute("select pg_backend_pid()")
        (pid,) = cursor.fetchone()
    before = last_audit_id()
    dsn = connection.get_connection_params()
    with psycopg.connect(
        **{k: v for k, v in dsn.items() if k in ("dbname", "host", "port", "user", "password")},
        autocommit=True,
    ) as other:
        other.execute("select pg_terminate_backend(%s)", [pid])
    round_trips = fast_reads.trace.round_trips
    with CaptureQueriesContext(connection) as django_queries:
        again = call(fast, path, "full=true", **bearer(stored))
    assert again.status_code == 200
    assert again.body == first.body
    assert django_queries.captured_queries == []  # the fast path answered, not the view
    assert fast_reads.trace.round_trips == round_trips + 1  # the one that went through
    assert [row[2] for row in audit_rows(before)] == ["document", "key"]
    with connection.cursor() as cursor:
        cursor.execute("select pg_backend_pid()")
        assert cursor.fetchone() != (pid,)
