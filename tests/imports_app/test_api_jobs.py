"""Import job endpoints in-process (PostgreSQL, RLS on): create, list, get, retry, delete and
the checks `process` makes before it streams."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from imports_app.models import ImportJob
from mediqom.records.models import Subscription
from mediqom.records.quotas import check_scans_available
from tests.conftest import ok
from tests.imports_app.conftest import job_body


def create(client: Any, body: dict[str, Any] | None = None) -> Any:
    return client.post("/v1/import/jobs", body or job_body(2), format="json")


def test_it_creates_a_job_and_stores_nothing_readable(alice, client_for):
    response = create(client_for(alice))
    assert response.status_code == 200
    job = ImportJob.objects.get(pk=response.json()["id"])
    assert (job.status, job.file_count, job.language) == ("created", 1, "Czech")
    assert job.file_manifest == [
        {"type": "application/pdf", "size": 12345, "taskType": "application/pdf", "pages": 2}
    ]
    with connection.cursor() as cursor:
        cursor.execute("select manifest::text, file_manifest::text from import_jobs")
        raw_manifest, raw_public = cursor.fetchone()
    assert "data:image" not in raw_manifest
    assert "Novak" not in raw_manifest
    assert "Novak" not in raw_public
    assert job.extraction_result is None
    assert job.analysis_results is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"language": "Czech"}, "No files provided"),
        ({"files": [], "language": "Czech"}, "No files provided"),
        ({"files": "x"}, "No files provided"),
    ],
)
def test_it_refuses_a_job_without_files(alice, client_for, body, message):
    response = client_for(alice).post("/v1/import/jobs", body, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == message
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"taskType": "application/zip"}, 400),
        ({"processedImages": ["http://example.com/x.png"]}, 400),
        ({"processedImages": ["data:text/html;base64,PGgxPg=="]}, 415),
        ({"processedImages": ["data:image/png;base64,PGgxPg=="]}, 415),  # not a PNG inside
        ({"processedImages": ["data:image/png;base64,@@@"]}, 400),
        ({"processedImages": []}, 400),
        ({"processedImages": "data:image/png;base64,AAAA"}, 400),
        ({"thumbnail": "data:image/png;base64,PGgxPg=="}, 415),
        ({"size": -1}, 400),
        ({"name": "x" * 300}, 400),
    ],
)
def test_it_refuses_malformed_files_and_stores_nothing(alice, client_for, change, status):
    body = job_body()
    body["files"][0].update(change)
    response = create(client_for(alice), body)
    assert response.status_code == status
    assert set(response.json()) >= {"message", "code", "fields"}
    assert not ImportJob.objects.exists()


def test_a_traversal_file_name_is_stored_inert(alice, client_for):
    body = job_body(name="../../etc/passwd")
    job_id = create(client_for(alice), body).json()["id"]
    job = ok(client_for(alice).get(f"/v1/import/jobs/{job_id}")).json()["job"]
    assert job["file_manifest"][0]["name"] == "passwd"


def test_it_refuses_too_many_pages(alice, client_for, settings):
    settings.MEDIQOM_IMPORT_MAX_PAGES = 3
    response = create(client_for(alice), job_body(4))
    assert response.status_code == 413
    assert response.json()["code"] == "import_too_many_pages"


def test_it_refuses_a_job_without_scans_left(alice, client_for):
    check_scans_available(user=alice)
    Subscription.objects.filter(pk=alice.id).update(scans_used=5, scans_base=5)
    response = create(client_for(alice))
    assert response.status_code == 403
    assert response.json()["message"] == "Subscription limit reached"


def test_it_lists_the_callers_jobs_newest_first_and_purges_expired_ones(alice, bob, client_for):
    first = create(client_for(alice)).json()["id"]
    second = create(client_for(alice)).json()["id"]
    create(client_for(bob))
    expired = create(client_for(alice)).json()["id"]
    ImportJob.objects.filter(pk=expired).update(expires_at=timezone.now() - timedelta(seconds=1))
    jobs = ok(client_for(alice).get("/v1/import/jobs")).json()["jobs"]
    assert [j["id"] for j in jobs] == [second, first]
    assert set(jobs[0]) == {
        "id", "status", "stage", "progress", "message", "error", "file_count",
        "file_manifest", "language", "created_at", "updated_at", "expires_at",
    }  # fmt: skip
    assert jobs[0]["file_manifest"][0]["name"] == "Novak_blood_2026.pdf"
    assert not ImportJob.objects.filter(pk=expired).exists()


def test_get_returns_the_job_and_another_users_job_is_404(alice, bob, client_for):
    job_id = create(client_for(alice)).json()["id"]
    response = client_for(alice).get(f"/v1/import/jobs/{job_id}")
    assert response.status_code == 200
    job = response.json()["job"]
    assert job["id"] == job_id
    assert job["encrypted_analysis_results"] is None
    assert job["extraction_result"] is None
    for path in (f"/v1/import/jobs/{job_id}", f"/v1/import/jobs/{job_id}/events"):
        strange = client_for(bob).get(path)
        assert strange.status_code == 404
        assert strange.json()["message"] == "Import job not found"
    assert client_for(bob).delete(f"/v1/import/jobs/{job_id}").status_code == 404
    assert client_for(bob).post(f"/v1/import/jobs/{job_id}/process").status_code == 404
    assert client_for(None).get(f"/v1/import/jobs/{job_id}").status_code == 401
    assert ImportJob.objects.filter(pk=job_id).exists()


def test_only_a_failed_job_can_be_retried(alice, client_for):
    job_id = create(client_for(alice)).json()["id"]
    response = client_for(alice).patch(f"/v1/import/jobs/{job_id}")
    assert response.status_code == 400
    assert response.json()["message"] == "Only failed jobs can be retried"
    ImportJob.objects.filter(pk=job_id).update(status="error", error="x", progress=40)
    response = client_for(alice).patch(f"/v1/import/jobs/{job_id}")
    assert response.json() == {"success": True}
    job = ImportJob.objects.get(pk=job_id)
    assert (job.status, job.error, job.progress) == ("created", None, 0)


def test_delete_removes_the_job(alice, client_for):
    job_id = create(client_for(alice)).json()["id"]
    assert ok(client_for(alice).delete(f"/v1/import/jobs/{job_id}")).json() == {"success": True}
    assert not ImportJob.objects.filter(pk=job_id).exists()


def test_process_refuses_a_completed_job(alice, alice_keys, client_for):
    job_id = create(client_for(alice)).json()["id"]
    ImportJob.objects.filter(pk=job_id).update(status="completed")
    response = client_for(alice).post(f"/v1/import/jobs/{job_id}/process")
    assert response.status_code == 400
    assert response.json()["message"] == "Job already completed"


def test_process_is_409_while_a_run_is_alive_but_not_once_it_is_stale(
    alice, alice_keys, client_for, settings
):
    job_id = create(client_for(alice)).json()["id"]
    ImportJob.objects.filter(pk=job_id).update(
        status="extracting", processing_started_at=timezone.now(), updated_at=timezone.now()
    )
    response = client_for(alice).post(f"/v1/import/jobs/{job_id}/process")
    assert response.status_code == 409
    assert response.json()["message"] == "Job is already being processed"
    settings.MEDIQOM_IMPORT_STALE_SECONDS = 60
    ImportJob.objects.filter(pk=job_id).update(updated_at=timezone.now() - timedelta(minutes=2))
    from imports_app.services import import_job_start

    restarted = import_job_start(user=alice, job_id=job_id)
    assert restarted.status == "extracting"


def test_process_needs_the_users_public_key_and_charges_nothing_without(alice, client_for):
    job_id = create(client_for(alice)).json()["id"]
    before = check_scans_available(user=alice)["available"]
    response = client_for(alice).post(f"/v1/import/jobs/{job_id}/process")
    assert response.status_code == 400
    assert response.json()["code"] == "public_key_missing"
    assert check_scans_available(user=alice)["available"] == before
    assert ImportJob.objects.get(pk=job_id).status == "created"


def test_process_without_scans_is_403_before_streaming(alice, alice_keys, client_for):
    job_id = create(client_for(alice)).json()["id"]
    Subscription.objects.filter(pk=alice.id).update(scans_used=5, scans_base=5)
    response = client_for(alice).post(f"/v1/import/jobs/{job_id}/process")
    assert response.status_code == 403
    assert response.json()["message"] == "Subscription limit reached"
    assert ImportJob.objects.get(pk=job_id).scan_deducted is False


def test_the_purge_command_deletes_only_expired_jobs(alice, bob, client_for):
    import io

    from django.core.management import call_command

    keep = create(client_for(alice)).json()["id"]
    gone = create(client_for(bob)).json()["id"]
    ImportJob.objects.filter(pk=gone).update(expires_at=timezone.now() - timedelta(seconds=1))
    out = io.StringIO()
    call_command("import_jobs_purge", stdout=out)
    assert out.getvalue().strip() == "purged 1 import job(s)"
    assert [str(pk) for pk in ImportJob.objects.values_list("pk", flat=True)] == [keep]
