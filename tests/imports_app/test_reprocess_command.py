"""`manage.py reprocess_imports` on real PostgreSQL: jobs failed by a real pipeline run (the
real OpenAI client against the AI stub), then reprocessed by the command, in-process and as
a subprocess killed with SIGKILL mid-way."""

from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from crypto_app.primitives import aes_decrypt_json, unwrap_key
from imports_app import reprocess
from imports_app.models import ImportJob
from imports_app.services import import_job_create, import_job_start
from mediqom.auth.tokens import SupabaseUser
from mediqom.records.quotas import check_scans_available
from mediqom.streams.models import StreamEvent
from tests.imports_app.conftest import give_keys, job_body
from tests.imports_app.test_pipeline import FEATURES, PAGE_1, PAGE_2, program_document
from tests.streams.conftest import ROOT, server_env

pytestmark = pytest.mark.django_db(transaction=True)

ASSESSOR = {"documents": [{"title": "Biochemie", "date": "2026-11-20", "language": "cs",
                           "isMedical": True, "isMedicalImaging": False, "hasImages": False,
                           "pages": [1, 2]}]}  # fmt: skip


def failed_job(user: SupabaseUser, stub: Any) -> ImportJob:
    """A job that ran for real: OCR and assessment answered, analysis failed (the stub has no
    answer for feature detection), so its scan stays charged and its text is in the
    checkpoint while its page images are gone."""
    job = import_job_create(user=user, files=job_body(2)["files"], language="Czech")
    pages = [{"page": 1, "text": PAGE_1}, {"page": 2, "text": PAGE_2}]
    stub.reply(tool="ocr_extractor", args={"pages": pages}, times=1)
    stub.reply(tool="document_assessor", args=ASSESSOR, times=1)
    import_job_start(user=user, job_id=job.id)  # the immediate backend runs it on commit
    job.refresh_from_db()
    assert job.status == "error", job.error
    assert job.scan_deducted is True
    manifest = json.loads(job.manifest or "[]")
    assert manifest[0]["processedImages"] == []  # the images are gone once extracted
    return job


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("reprocess_imports", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def events(job: ImportJob) -> list[str]:
    return list(
        StreamEvent.objects.filter(stream_id=job.stream_key)
        .order_by("seq")
        .values_list("type", flat=True)
    )


def snapshot(job: ImportJob) -> dict[str, Any]:
    row = ImportJob.objects.filter(pk=job.pk).values().get()
    return {**row, "events": events(job)}


def decrypt_analysis(job: ImportJob, private: str) -> Any:
    job.refresh_from_db()
    key = unwrap_key(private, job.result_encryption_key)
    return aes_decrypt_json(key, job.encrypted_analysis_results)


def test_a_failed_job_is_reprocessed_without_a_scan_and_a_rerun_changes_nothing(
    ai_providers, alice
):
    private = give_keys(alice)
    job = failed_job(alice, ai_providers)
    scans = check_scans_available(user=alice)["available"]
    ocr_calls = len(ai_providers.calls(tool="ocr_extractor"))
    program_document(ai_providers)

    out = run("--job", str(job.id), "--inline")

    assert f"{job.id}: completed" in out
    job.refresh_from_db()
    assert (job.status, job.progress, job.error, job.scan_deducted) == ("completed", 100, None,
                                                                      True)  # fmt: skip
    assert job.checkpoint is None
    assert len(ai_providers.calls(tool="ocr_extractor")) == ocr_calls  # text reused
    [analysis] = decrypt_analysis(job, private)
    assert analysis["report"]["title"] == "Biochemie"
    assert check_scans_available(user=alice)["available"] == scans  # no scan charged
    assert events(job).count("complete") == 1
    before = snapshot(job)
    calls = len(ai_providers.requests)

    again = run("--job", str(job.id), "--inline")

    assert "skipped: already reprocessed with this configuration (completed)" in again
    assert snapshot(job) == before  # no new events, results or changes
    assert len(ai_providers.requests) == calls
    assert check_scans_available(user=alice)["available"] == scans


def test_a_job_that_fails_again_is_skipped_on_rerun_unless_forced(ai_providers, alice):
    give_keys(alice)
    job = failed_job(alice, ai_providers)
    scans = check_scans_available(user=alice)["available"]

    out = run("--job", str(job.id), "--inline")  # the stub still cannot analyse it
    assert f"{job.id}: error" in out
    job.refresh_from_db()
    assert job.status == "error"
    assert job.scan_deducted is True
    before = snapshot(job)

    again = run("--job", str(job.id), "--inline")
    assert "already reprocessed with this configuration and failed again" in again
    assert snapshot(job) == before

    program_document(ai_providers)
    forced = run("--job", str(job.id), "--inline", "--force")
    assert f"{job.id}: completed" in forced
    assert check_scans_available(user=alice)["available"] == scans


def test_dry_run_lists_the_decisions_and_changes_nothing(ai_providers, alice, bob):
    give_keys(alice)
    failed = failed_job(alice, ai_providers)
    created = import_job_create(user=alice, files=job_body()["files"], language="Czech")
    completed = import_job_create(user=alice, files=job_body()["files"], language="Czech")
    ImportJob.objects.filter(pk=completed.pk).update(status="completed")
    running = import_job_create(user=alice, files=job_body()["files"], language="Czech")
    ImportJob.objects.filter(pk=running.pk).update(status="analyzing", updated_at=timezone.now())
    nokey = import_job_create(user=bob, files=job_body()["files"], language="Czech")
    ImportJob.objects.filter(pk=nokey.pk).update(status="error")
    jobs = [failed, created, completed, running, nokey]
    before = [snapshot(j) for j in jobs]
    scans = check_scans_available(user=alice)["available"]
    calls = len(ai_providers.requests)

    err = io.StringIO()
    out = io.StringIO()
    call_command("reprocess_imports", "--all", "--dry-run", stdout=out, stderr=err)
    out = out.getvalue()

    assert "5 job(s) selected (dry run: nothing is changed)" in out
    assert err.getvalue().splitlines()[0] == "[" + "#" * 6 + "." * 24 + "] 1/5 jobs"
    assert err.getvalue().splitlines()[-1] == "[" + "#" * 30 + "] 5/5 jobs"
    assert f"{failed.id}: would reprocess (failed: resume from the last finished stage)" in out
    assert f"{created.id}: skipped: never processed" in out
    assert f"{completed.id}: cannot: completed: the server keeps no readable inputs" in out
    assert f"{running.id}: skipped: being processed" in out
    assert f"{nokey.id}: cannot: the user has no public key" in out
    assert [snapshot(j) for j in jobs] == before
    assert len(ai_providers.requests) == calls
    assert check_scans_available(user=alice)["available"] == scans


def test_the_filters_select_by_job_user_status_and_created_date(alice, bob):
    def job(user: SupabaseUser, status: str, days_ago: int) -> UUID:
        made = import_job_create(user=user, files=job_body()["files"], language="Czech")
        created = timezone.now() - timedelta(days=days_ago)
        ImportJob.objects.filter(pk=made.pk).update(status=status, created_at=created)
        return made.id

    a_old, a_new, a_done = (
        job(alice, "error", 10),
        job(alice, "error", 1),
        job(alice, "completed", 1),
    )
    b_new = job(bob, "error", 1)

    def selected(*args: str) -> set[UUID]:
        lines = run(*args, "--dry-run").splitlines()
        return {UUID(m.group(1)) for line in lines if (m := re.match(r"([0-9a-f-]{36}): ", line))}

    assert selected("--job", str(a_old), "--job", str(b_new)) == {a_old, b_new}
    assert selected("--user", str(alice.id)) == {a_old, a_new, a_done}
    assert selected("--user", "ALICE@example.test") == {a_old, a_new, a_done}
    assert selected("--status", "error") == {a_old, a_new, b_new}
    assert selected("--status", "error", "--user", alice.email or "") == {a_old, a_new}
    since = (timezone.now() - timedelta(days=5)).date().isoformat()
    assert selected("--since", since) == {a_new, a_done, b_new}
    assert selected("--until", since) == {a_old}
    assert selected("--since", since, "--status", "completed") == {a_done}
    assert "no import jobs match" in run("--status", "expired")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "Select jobs with --job"),
        (("--job", "not-a-uuid"), "Not a job id: 'not-a-uuid'"),
        (("--user", "nobody@example.test"), "No user with the email"),
        (("--since", "yesterday"), "Not a date or date-time: 'yesterday'"),
        (("--since", "2026-12-02", "--until", "2026-11-01"), "--since must be before --until"),
        (("--all", "--inline", "--enqueue"), "Use --inline or --enqueue, not both"),
        (("--all", "--enqueue"), "--enqueue needs MEDIQOM_TASKS_BACKEND=database"),
        (("--status", "done"), "invalid choice: 'done'"),
    ],
)
def test_bad_arguments_are_a_clear_command_error(alice, args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("reprocess_imports", *args, stdout=io.StringIO(), stderr=io.StringIO())


def command_env(stub: Any, **extra: str) -> dict[str, str]:
    return server_env(
        **{
            "MEDIQOM_TASKS_BACKEND": "immediate",
            "OPENAI_API_KEY": "sk-test-stub",
            "OPENAI_BASE_URL": stub.openai_base_url,
            "GEMINI_API_KEY": "",
            "GOOGLE_API_KEY": "",
            "MEDIQOM_AI_TIMEOUT_MS": "5000",
            "MEDIQOM_AI_MAX_RETRIES": "0",
            "MEDIQOM_AI_RETRY_BACKOFF_MS": "0",
            **extra,
        }
    )


def test_killed_mid_run_then_rerun_completes_every_job_once(ai_providers, alice):
    private = give_keys(alice)
    jobs = [failed_job(alice, ai_providers) for _ in range(3)]
    scans = check_scans_available(user=alice)["available"]
    ocr_calls = len(ai_providers.calls(tool="ocr_extractor"))
    program_document(ai_providers, delay=0.8)  # each job's analysis takes a few seconds
    env = command_env(ai_providers)
    command = [sys.executable, "manage.py", "reprocess_imports", "--status", "error", "--inline"]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # kill it once the second job is mid-analysis
            done = ImportJob.objects.filter(status="completed").exists()
            busy = ImportJob.objects.filter(
                status__in=("extracting", "analyzing"), progress__gte=30
            )
            if done and busy.exists():
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the command did not get to the second job")
        # While it runs, the job's advisory lock tells other runs to keep off.
        running = ImportJob.objects.get(status__in=("extracting", "analyzing"))
        seen = reprocess.inspect(running.id, key="any")
        assert seen.reason == "being reprocessed by another command"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    statuses = sorted(ImportJob.objects.values_list("status", flat=True))
    assert "completed" in statuses
    assert "analyzing" in statuses

    rerun = subprocess.run(
        [*command[:3], "--all", "--inline"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120, check=True,
    )  # fmt: skip

    assert "skipped: already reprocessed with this configuration (completed)" in rerun.stdout
    assert "its run died: resume from the last finished stage" in rerun.stdout
    for job in jobs:
        job.refresh_from_db()
        assert job.status == "completed", (job.status, rerun.stdout)
        [analysis] = decrypt_analysis(job, private)
        assert analysis["report"]["title"] == "Biochemie"
        assert events(job).count("complete") == 1
    assert len(ai_providers.calls(tool="ocr_extractor")) == ocr_calls  # no extraction redone
    assert check_scans_available(user=alice)["available"] == scans  # nothing charged

    third = subprocess.run(
        [*command[:3], "--all", "--inline"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120, check=True,
    )  # fmt: skip
    assert third.stdout.count("skipped: already reprocessed") == 3


def test_with_the_database_backend_claim_and_task_are_stored_together(ai_providers, alice):
    from django_tasks_db.models import DBTaskResult

    give_keys(alice)
    job = failed_job(alice, ai_providers)
    scans = check_scans_available(user=alice)["available"]
    env = command_env(ai_providers, MEDIQOM_TASKS_BACKEND="database")

    done = subprocess.run(
        [sys.executable, "manage.py", "reprocess_imports", "--job", str(job.id)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip

    assert "mode task" in done.stdout
    assert f"{job.id}: queued" in done.stdout
    job.refresh_from_db()
    assert job.status == "extracting"
    assert job.reprocess["mode"] == "task"
    [task] = DBTaskResult.objects.filter(task_path="imports_app.tasks.process_import_job")
    assert task.args_kwargs["args"] == [str(job.id), str(alice.id), job.reprocess["at"]]
    again = subprocess.run(
        [sys.executable, "manage.py", "reprocess_imports", "--job", str(job.id)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "skipped: being processed (queued or running)" in again.stdout
    assert DBTaskResult.objects.count() == 1  # not queued twice
    assert check_scans_available(user=alice)["available"] == scans


def half_analysed_job(user: SupabaseUser, stub: Any) -> ImportJob:
    """Two documents: the first analysed (non-medical: the workflow stops after feature
    detection), the second failed."""
    job = import_job_create(user=user, files=job_body(2)["files"], language="Czech")
    pages = [{"page": 1, "text": PAGE_1}, {"page": 2, "text": PAGE_2}]
    documents = [{**ASSESSOR["documents"][0], "pages": [n]} for n in (1, 2)]
    stub.reply(tool="ocr_extractor", args={"pages": pages}, times=1)
    stub.reply(tool="document_assessor", args={"documents": documents}, times=1)
    stub.reply(tool="feature_detection", args={**FEATURES, "isMedical": False}, times=1)
    import_job_start(user=user, job_id=job.id)
    job.refresh_from_db()
    assert job.status == "error"
    assert len(json.loads(job.checkpoint or "{}")["analysis"]) == 1
    return job


def test_redo_analysis_analyses_every_document_again_from_the_stored_text(ai_providers, alice):
    private = give_keys(alice)
    resumed, redone = half_analysed_job(alice, ai_providers), half_analysed_job(alice, ai_providers)
    ai_providers.reply(tool="feature_detection", args={**FEATURES, "isMedical": False})
    ocr = len(ai_providers.calls(tool="ocr_extractor"))

    def detections() -> int:
        return len(ai_providers.calls(tool="feature_detection"))

    before = detections()
    assert f"{resumed.id}: completed" in run("--job", str(resumed.id), "--inline")
    assert detections() == before + 1  # only the failed document
    before = detections()
    assert f"{redone.id}: completed" in run("--job", str(redone.id), "--inline", "--redo-analysis")
    assert detections() == before + 2  # both documents, from the stored text
    assert len(ai_providers.calls(tool="ocr_extractor")) == ocr  # no page read again
    assert len(decrypt_analysis(redone, private)) == 2
    # another option set is another configuration: the resumed job is not skipped for it
    assert "already reprocessed" not in run(
        "--job", str(resumed.id), "--redo-analysis", "--dry-run"
    )


def test_sigterm_stops_after_the_current_job_and_leaves_the_rest_untouched(ai_providers, alice):
    give_keys(alice)
    jobs = [failed_job(alice, ai_providers) for _ in range(3)]
    program_document(ai_providers, delay=0.8)
    env = command_env(ai_providers)
    command = [sys.executable, "manage.py", "reprocess_imports", "--status", "error", "--inline"]
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        busy = ImportJob.objects.filter(status__in=("extracting", "analyzing"), progress__gte=30)
        while not busy.exists():
            assert time.monotonic() < deadline, "the command did not start the first job"
            time.sleep(0.05)
        untouched = [snapshot(job) for job in jobs[1:]]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "interrupted: stopping after the current job" in err
    assert f"{jobs[0].id}: completed" in out
    assert "stopped: 2 job(s) not visited" in out
    jobs[0].refresh_from_db()
    assert jobs[0].status == "completed"
    assert [snapshot(job) for job in jobs[1:]] == untouched
