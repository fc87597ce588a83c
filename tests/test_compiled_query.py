"""mediqom.db.compiled: the cached SQL is the ORM's own, with the right ids in the right places."""

from __future__ import annotations

import uuid

import pytest

from mediqom.db.compiled import CompiledIds, CompiledQuery
from mediqom.records.models import Document
from mediqom.records.selectors import CALLER_KEYS_IN_PROFILE, DOCUMENTS_OF_PROFILE
from tests.records.conftest import document_body

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite_ok]


def _sql(queryset) -> tuple[str, list]:
    sql, params = queryset.query.get_compiler(using="default").as_sql()
    return sql, list(params)


@pytest.mark.parametrize("full", [True, False])
def test_the_cached_sql_is_a_fresh_compile_of_the_same_queryset(full):
    caller, profile = uuid.uuid4(), uuid.uuid4()
    types = ("document", "health")
    raw = DOCUMENTS_OF_PROFILE.raw([caller, profile], types, full)
    fresh = _sql(DOCUMENTS_OF_PROFILE.queryset([caller, profile], types, full))
    assert (raw.raw_query, list(raw.params)) == fresh
    keys = CALLER_KEYS_IN_PROFILE.raw([caller, profile])
    assert (keys.raw_query, list(keys.params)) == _sql(
        CALLER_KEYS_IN_PROFILE.queryset([caller, profile])
    )


def test_it_answers_what_the_orm_answers_for_each_caller(alice, bob, client_for):
    for owner in (alice, bob):
        for doc_type in ("document", "health", "document"):
            response = client_for(owner).post(
                f"/v1/med/profiles/{owner.id}/documents",
                document_body(author=owner.id, profile=owner.id, doc_type=doc_type),
                format="json",
            )
            assert response.status_code == 200
    for caller in (alice, bob):
        for profile in (alice, bob):
            for types in (("document",), ("document", "health")):
                ids = [caller.id, profile.id]
                cached = [d.pk for d in DOCUMENTS_OF_PROFILE.raw(ids, types, True)]
                orm = [d.pk for d in DOCUMENTS_OF_PROFILE.queryset(ids, types, True)]
                assert cached == orm
                assert len(cached) == (0 if caller != profile else len(types) + 1)


def test_it_refuses_a_queryset_that_inlines_an_id_into_the_sql():
    def inlined(ids: CompiledIds):
        return Document.objects.extra(where=[f"author_id = '{ids.id.hex}'"])  # noqa: S610

    with pytest.raises(ValueError, match="inlined"):
        CompiledQuery(inlined, id_count=1).raw([uuid.uuid4()])
