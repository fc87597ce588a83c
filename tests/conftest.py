"""Shared fixtures: personas Alice (owner) and Bob (stranger), real tokens, real PostgreSQL."""

from __future__ import annotations

import io
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from mediqom.auth.tokens import SupabaseUser, mint_token


def pytest_sessionstart(session: pytest.Session) -> None:
    """Fail at once, with a clear message, when the test database is not reachable."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        return
    import psycopg

    try:
        connection = psycopg.connect(
            host=db.get("HOST") or None,
            port=db.get("PORT") or None,
            user=db.get("USER") or None,
            password=db.get("PASSWORD") or None,
            dbname=db.get("NAME") or "postgres",
            connect_timeout=5,
            autocommit=True,
        )
    except psycopg.OperationalError as exc:
        where = f"{db.get('HOST') or 'local socket'}:{db.get('PORT') or 5432}"
        pytest.exit(
            f"PostgreSQL is not reachable at {where} ({type(exc).__name__}). The tests need a "
            "real PostgreSQL: start one or point DATABASE_URL at one "
            "(postgres://USER:PASSWORD@HOST:PORT/DBNAME).",
            returncode=3,
        )
    with connection:
        _drop_abandoned_test_databases(connection)


def _drop_abandoned_test_databases(connection: Any) -> None:
    """Drop `test_mediqom_<pid>` databases left by killed runs (their process is gone).

    A database still in use (another machine's run with the same pid) refuses DROP; skip it.
    """
    import psycopg

    with connection.cursor() as cursor:
        cursor.execute("select datname from pg_database where datname ~ '^test_mediqom_[0-9]+$'")
        names = [row[0] for row in cursor.fetchall()]
        for name in names:
            pid = int(name.rsplit("_", 1)[1])
            if pid == os.getpid() or _process_alive(pid):
                continue
            try:
                cursor.execute(f'drop database if exists "{name}"')
            except psycopg.Error:
                continue


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """The test database, dropped cleanly at the end: connections that servers, threads and
    subprocesses of the tests left open are ended first, so DROP DATABASE never meets
    "being accessed by other users" (which would leave the database behind)."""
    yield
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        return
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(
        host=db.get("HOST") or None,
        port=db.get("PORT") or None,
        user=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        dbname=db["NAME"],
        connect_timeout=5,
        autocommit=True,
    ) as admin:
        admin.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity"
            " where datname = %s and pid <> pg_backend_pid()",
            [db["NAME"]],
        )


# Every table holding user data; each has row-level security on PostgreSQL.
USER_TABLES = [
    "profiles",
    "private_keys",
    "profiles_links",
    "documents",
    "keys",
    "subscriptions",
    "recovery_attempts",
    "audit_log",
    "billing_checkout_sessions",
    "purchase_history",
    "streams",
    "stream_events",
    "import_jobs",
    # sessions_app
    "consultation_sessions",
    "session_transcripts",
    "session_feedback",
]


def ok(response: Any, status: int = 200) -> Any:
    """The response, once its status is the expected one: tests check the status first, then
    the body or the database."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    return response


def make_user(email: str | None = None) -> SupabaseUser:
    user_id = uuid.uuid4()
    email = email or f"{user_id.hex[:8]}@example.test"
    return SupabaseUser(
        id=user_id, claims={"sub": str(user_id), "email": email, "role": "authenticated"}
    )


def free_port() -> int:
    """A free TCP port on 127.0.0.1 for a server the test starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url(name: str | None = None) -> str:
    """The test database (or another database `name` on its server) as a URL for processes
    the test starts."""
    from django.db import connection

    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{name or db['NAME']}"


def token_for(user: SupabaseUser, **extra: Any) -> str:
    return mint_token(user.id, email=user.email, extra=extra or None)


def persona(email: str) -> SupabaseUser:
    """A user whose profile exists, as after its first authenticated request."""
    from mediqom.records.services import profile_ensure

    user = make_user(email)
    profile_ensure(user=user)
    return user


@pytest.fixture
def alice(db: None) -> SupabaseUser:
    """The owner of the records under test."""
    return persona("alice@example.test")


@pytest.fixture
def bob(db: None) -> SupabaseUser:
    """A stranger who must see nothing of Alice's."""
    return persona("bob@example.test")


@pytest.fixture
def client_for() -> Callable[[SupabaseUser | None], APIClient]:
    """An APIClient that sends a real signed token (the whole auth path runs)."""

    def build(user: SupabaseUser | None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
        return client

    return build


@pytest.fixture
def configured_output() -> Iterator[io.StringIO]:
    """What the handler that settings.LOGGING installs really writes (its filters included)."""
    logger = logging.getLogger("mediqom")
    handler = logger.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    yield stream
    logger.setLevel(level)
    handler.setStream(previous)


@pytest.fixture
def rls_disabled(db: None) -> Iterator[None]:
    """Turn RLS off for the records tables inside the test transaction (PostgreSQL only),
    so API tests prove the queryset layer alone. Rolled back with the test."""
    from django.db import connection

    if connection.vendor != "postgresql":
        yield
        return
    tables = USER_TABLES
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f'alter table "{table}" disable row level security')
    yield


def _flush_past_the_audit_truncate_guard() -> None:
    """Transactional tests are emptied with TRUNCATE, which audit_log refuses (audit migration
    0003). Only this test harness gets past it: the flush runs with triggers off for its own
    transaction (`SET LOCAL session_replication_role = replica`, needs a superuser login)."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush

    def sql_flush(self: Any, style: Any, tables: Any, **kwargs: Any) -> list[str]:
        statements: list[str] = original(self, style, tables, **kwargs)
        if not statements:
            return statements
        return ["SET LOCAL session_replication_role = replica", *statements]

    DatabaseOperations.sql_flush = sql_flush  # type: ignore[method-assign]


_flush_past_the_audit_truncate_guard()
os.environ.setdefault("MEDIQOM_TEST_RUN", "1")


# ---------------------------------------------------------------- AI providers (stubbed)
@pytest.fixture
def ai_stub() -> Iterator[Any]:
    """A real HTTP server on 127.0.0.1 answering like OpenAI and Gemini (tests/ai_stub.py)."""
    from tests.ai_stub import AIStub

    stub = AIStub().start()
    yield stub
    stub.stop()


@pytest.fixture
def ai_providers(settings: Any, ai_stub: Any) -> Any:
    """OpenAI and Gemini configured (test keys) and pointed at the stub; 2 s timeout per
    attempt, no retries and no backoff unless a test sets MEDIQOM_AI_MAX_RETRIES."""
    settings.OPENAI_API_KEY = "sk-test-stub"
    settings.OPENAI_BASE_URL = ai_stub.openai_base_url
    settings.GEMINI_API_KEY = "gemini-test-stub"
    settings.GEMINI_BASE_URL = ai_stub.gemini_base_url
    settings.MEDIQOM_AI_TIMEOUT_MS = 2000
    settings.MEDIQOM_AI_MAX_RETRIES = 0
    settings.MEDIQOM_AI_RETRY_BACKOFF_MS = 0
    return ai_stub
