"""Where the fast path cannot run (SQLite, or inside an outer transaction as in these tests),
`FastReads` hands the document list to the DRF view: same answer, nothing read on its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from config.wsgi import django_application
from mediqom.api.fast_wsgi import FastReads
from mediqom.records import fast_reads
from tests.records.conftest import document_body
from tests.records.test_fast_reads import bearer, call

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite_ok]


@contextmanager
def keep_the_test_connection() -> Iterator[None]:
    """As Django's test client does (it reconnects the signals after each of its requests): the
    WSGI handler must not close the connection that holds the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_the_view_answers_when_the_fast_path_cannot_run(alice, client_for) -> None:
    created = client_for(alice).post(
        f"/v1/med/profiles/{alice.id}/documents",
        document_body(author=alice.id, profile=alice.id),
        format="json",
    )
    assert created.status_code == 200
    path = f"/v1/med/profiles/{alice.id}/documents"
    round_trips = fast_reads.trace.round_trips
    with keep_the_test_connection():
        answer = call(FastReads(django_application), path, "full=true", **bearer(alice))
        view = call(django_application, path, "full=true", **bearer(alice))
    assert answer.status_code == view.status_code == 200
    assert answer.body == view.body
    assert answer.body.count(b'"metadata"') == 1
    assert fast_reads.trace.round_trips == round_trips  # the view served it
