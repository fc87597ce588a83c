"""Row-level security of import_jobs proven with for_user() bypassed (PostgreSQL)."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, transaction

from imports_app.models import ImportJob
from imports_app.services import import_job_create
from mediqom.db.rls import rls_context
from tests.imports_app.conftest import job_body


def test_rls_alone_hides_and_protects_alices_jobs_from_bob(alice, bob):
    job = import_job_create(user=alice, files=job_body()["files"], language="English")
    with rls_context(bob):
        assert not ImportJob.objects.exists()
        assert ImportJob.objects.filter(pk=job.pk).update(status="error") == 0
        assert ImportJob.objects.filter(pk=job.pk).delete()[0] == 0
        with pytest.raises(DatabaseError) as raised, transaction.atomic():
            ImportJob.objects.create(user_id=alice.id)
        assert "row-level security" in str(raised.value)
    with rls_context(alice):
        assert list(ImportJob.objects.values_list("pk", flat=True)) == [job.pk]
    assert ImportJob.objects.get(pk=job.pk).status == "created"
