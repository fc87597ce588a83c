"""The import job admin: status and errors, never the manifest or results; retry action."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from imports_app.models import ImportJob
from imports_app.services import import_job_create
from tests.conftest import ok
from tests.imports_app.conftest import job_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client() -> Client:
    user = User.objects.create_user(
        "ops", password="pw-for-tests", is_staff=True, is_superuser=True
    )
    client = Client()
    client.force_login(user)
    return client


def test_the_job_page_shows_status_but_no_content(staff_client, alice):
    job = import_job_create(user=alice, files=job_body()["files"], language="Czech")
    ImportJob.objects.filter(pk=job.pk).update(
        status="error", error="The AI provider failed", encrypted_analysis_results="SECRETCIPHER"
    )
    page = ok(staff_client.get(f"/admin/imports_app/importjob/{job.pk}/change/")).content.decode()
    assert "The AI provider failed" in page
    assert "Novak_blood_2026" not in page
    assert "data:image" not in page
    assert "SECRETCIPHER" not in page
    assert staff_client.get("/admin/imports_app/importjob/").status_code == 200


def test_the_retry_action_sets_failed_jobs_back_to_created(staff_client, alice):
    failed = import_job_create(user=alice, files=job_body()["files"], language="Czech")
    running = import_job_create(user=alice, files=job_body()["files"], language="Czech")
    ImportJob.objects.filter(pk=failed.pk).update(status="error", error="x")
    ImportJob.objects.filter(pk=running.pk).update(status="extracting")
    done = staff_client.post(
        "/admin/imports_app/importjob/",
        {"action": "retry_failed", "_selected_action": [str(failed.pk), str(running.pk)]},
    )
    assert done.status_code == 302  # the admin redirects back to the list after an action
    assert ImportJob.objects.get(pk=failed.pk).status == "created"
    assert ImportJob.objects.get(pk=failed.pk).error is None
    assert ImportJob.objects.get(pk=running.pk).status == "extracting"


def test_the_list_shows_status_stage_progress_and_error(staff_client, alice):
    job = import_job_create(user=alice, files=job_body()["files"], language="Czech")
    ImportJob.objects.filter(pk=job.pk).update(
        status="error", stage="analysis_feature_detection", progress=42,
        error="The AI provider failed: no answer within the timeout",
        encrypted_extraction_result="CIPHERTEXT-EXTRACTION", checkpoint='{"extraction": []}',
    )  # fmt: skip
    page = ok(staff_client.get("/admin/imports_app/importjob/")).content.decode()
    for shown in ("error", "analysis_feature_detection", "42", "no answer within the timeout"):
        assert shown in page
    assert "CIPHERTEXT-EXTRACTION" not in page
    assert "Novak_blood_2026" not in page
    assert "Reprocess the selected jobs now" in page


def test_the_reprocess_action_claims_failed_jobs_without_a_scan(
    staff_client, alice, django_capture_on_commit_callbacks
):
    from mediqom.records.quotas import check_scans_available
    from tests.imports_app.conftest import give_keys

    give_keys(alice)
    failed = import_job_create(user=alice, files=job_body()["files"], language="Czech")
    done = import_job_create(user=alice, files=job_body()["files"], language="Czech")
    ImportJob.objects.filter(pk=failed.pk).update(status="error", error="x", scan_deducted=True)
    ImportJob.objects.filter(pk=done.pk).update(status="completed")
    scans = check_scans_available(user=alice)["available"]
    with django_capture_on_commit_callbacks() as callbacks:
        response = staff_client.post(
            "/admin/imports_app/importjob/",
            {"action": "reprocess_now", "_selected_action": [str(failed.pk), str(done.pk)]},
            follow=True,
        )
    page = ok(response).content.decode()
    assert "1 job(s) queued for reprocessing" in page
    assert "Not reprocessed" in page
    assert "the server keeps no readable inputs" in page
    assert len(callbacks) == 1  # one task, enqueued after the claim commits
    claimed = ImportJob.objects.get(pk=failed.pk)
    assert (claimed.status, claimed.error) == ("extracting", None)
    assert claimed.reprocess["mode"] == "task"
    assert ImportJob.objects.get(pk=done.pk).status == "completed"
    assert check_scans_available(user=alice)["available"] == scans
