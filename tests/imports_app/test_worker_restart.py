"""Production background work: the django-tasks-db queue and `manage.py db_worker` processes.
A worker killed mid-pipeline (SIGKILL) leaves its run dead; once the job is stale the periodic
`import_jobs_purge` re-enqueues it, a new worker resumes it from its last finished stage, and
the job completes with one scan and one `complete` event."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mediqom.records.quotas import check_scans_available
from tests.imports_app.conftest import give_keys
from tests.imports_app.test_job_lifecycle_http import (
    ai_env,
    create_job,
    decrypt,
    headers,
    process,
    program_job,
    wait_for,
)
from tests.streams.conftest import ROOT, SseReader

pytestmark = pytest.mark.django_db(transaction=True)


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "manage.py", "db_worker", "--interval", "0.2",
               "--no-startup-delay"]  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)


def test_a_job_survives_its_worker_being_killed_mid_pipeline(
    start_server, ai_stub, alice, tmp_path
):
    private = give_keys(alice)
    program_job(ai_stub, delay=1.5)
    env = ai_env(ai_stub, MEDIQOM_TASKS_BACKEND="database", MEDIQOM_IMPORT_STALE_SECONDS="5")
    server = start_server(**env)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        workers.append(start_worker(server.env, tmp_path / "worker-1.log"))
        job_id = create_job(server, alice)
        scans = check_scans_available(user=alice)["available"]
        with process(server, alice, job_id) as response:
            reader = SseReader(response)
            while True:
                frame = reader.next()
                assert frame is not None, "the stream ended before the analysis started"
                if frame.data and json.loads(frame.data)["stage"].startswith("analysis_"):
                    break
            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait(timeout=10)
        ocr_calls = len(ai_stub.calls(tool="ocr_extractor"))
        assert ocr_calls == 1
        time.sleep(6)  # the dead run's row stops moving: the job becomes stale
        workers.append(start_worker(server.env, tmp_path / "worker-2.log"))
        purge = subprocess.run(
            [sys.executable, "manage.py", "import_jobs_purge"],
            cwd=ROOT, env=server.env, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        assert "re-enqueued 1 stale import job(s)" in purge.stdout
        job = wait_for(server, alice, job_id, ("completed", "error"))
        assert job["status"] == "completed", job["error"]
        _, analysis = decrypt(job, private)
        assert analysis[0]["report"]["title"] == "Biochemie"
        assert len(ai_stub.calls(tool="ocr_extractor")) == ocr_calls  # extraction not redone
        assert check_scans_available(user=alice)["available"] == scans - 1
        with httpx.stream(
            "GET", f"{server.url}/v1/import/jobs/{job_id}/events", headers=headers(alice),
            timeout=10,
        ) as response:  # fmt: skip
            kinds = [json.loads(f.data)["type"] for f in SseReader(response).rest() if f.data]
        assert kinds.count("complete") == 1
        assert "error" not in kinds
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
                try:
                    worker.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()
