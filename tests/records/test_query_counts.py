"""Statements per request on the hot read paths (bench/README.md, P1), pinned so a regression
fails CI: the document list, the profile list and the user read.

Inside a test the request transaction is a savepoint (SAVEPOINT ... RELEASE), and on
PostgreSQL the RLS identity is dropped again at the end (clear_rls); in production those three
are BEGIN, COMMIT and nothing. On PostgreSQL the RLS switch also answers whether the caller's
profile exists; SQLite (no RLS) asks that with its own statement, so the counts are the same.

These are the DRF views. In production (gunicorn, PostgreSQL) the document list is served by
the fast path in front of Django: 2 statements in 1 round trip, pinned in
tests/records/test_fast_reads.py.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import make_user
from tests.records.conftest import document_body
from tests.records.test_api_profiles import family_body
from tests.records.test_api_user import onboarding_body

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite_ok]

# Transaction bracket in a test: SAVEPOINT + RELEASE, plus clear_rls() on PostgreSQL.
BRACKET = 3 if connection.vendor == "postgresql" else 2


def statements(captured) -> list[str]:
    return [query["sql"].lstrip().lower() for query in captured.captured_queries]


def audit_inserts(captured) -> int:
    return sum(
        1
        for sql in statements(captured)
        if sql.startswith("insert into") and "audit_log" in sql.split("(")[0]
    )


def test_the_document_list_costs_four_statements_whatever_its_length(
    alice, client_for, django_assert_num_queries
):
    client = client_for(alice)
    url = f"/v1/med/profiles/{alice.id}/documents?full=true"
    stored = 0
    for expected_length in (1, 7):
        while stored < expected_length:
            created = client.post(
                f"/v1/med/profiles/{alice.id}/documents",
                document_body(author=alice.id, profile=alice.id),
                format="json",
            )
            assert created.status_code == 200
            stored += 1
        # identity (+ profile check), documents, the caller's grants, one audit INSERT
        with django_assert_num_queries(BRACKET + 4) as captured:
            response = client.get(url)
        assert response.status_code == 200
        assert len(response.json()) == expected_length
        assert audit_inserts(captured) == 1


def test_an_empty_document_list_adds_only_the_profile_visibility_check(
    alice, bob, client_for, django_assert_num_queries
):
    with django_assert_num_queries(BRACKET + 3) as captured:
        response = client_for(alice).get(f"/v1/med/profiles/{alice.id}/documents")
    assert response.status_code == 200
    assert response.json() == []
    assert audit_inserts(captured) == 0
    with django_assert_num_queries(BRACKET + 3):
        response = client_for(bob).get(f"/v1/med/profiles/{alice.id}/documents")
    assert response.status_code == 404


def test_the_profile_list_costs_two_statements(alice, client_for, django_assert_num_queries):
    client = client_for(alice)
    response = client.post("/v1/med/profiles", family_body("Child"), format="json")
    assert response.status_code == 200, response.content
    # identity (+ profile check), links with their profiles
    with django_assert_num_queries(BRACKET + 2):
        response = client.get("/v1/med/profiles")
    assert response.status_code == 200
    assert [link["profiles"]["fullName"] for link in response.json()] == ["Child"]


def test_the_user_read_costs_four_statements(alice, client_for, django_assert_num_queries):
    client = client_for(alice)
    assert (
        client.post("/v1/account/onboarding", onboarding_body(), format="json").status_code == 200
    )
    # identity (+ profile check), profile with its private key, the audit row, the subscription
    with django_assert_num_queries(BRACKET + 4) as captured:
        response = client.get("/v1/med/user")
    assert response.status_code == 200
    assert response.json()["private_keys"] is not None
    assert audit_inserts(captured) == 1


def test_only_the_first_request_of_a_new_user_pays_for_creating_its_profile(
    client_for, django_assert_num_queries
):
    client = client_for(make_user())
    with CaptureQueriesContext(connection) as first:
        assert client.get("/v1/med/profiles").status_code == 200
    # INSERT ... ON CONFLICT DO NOTHING on PostgreSQL, INSERT OR IGNORE on SQLite
    assert any(sql.startswith("insert") and 'into "profiles"' in sql for sql in statements(first))
    with django_assert_num_queries(BRACKET + 2) as second:
        again = client.get("/v1/med/profiles")
    assert again.status_code == 200
    assert not any(sql.startswith("insert") for sql in statements(second))
