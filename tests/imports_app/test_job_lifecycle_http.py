"""Import jobs end to end over real HTTP: a uvicorn server process on the test database runs
the pipeline in its in-process background worker; the real OpenAI client calls the AI stub;
the test reads the SSE stream like the client does and decrypts the stored results with the
user's private key."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from typing import Any

import httpx
import pytest

from crypto_app.primitives import aes_decrypt_json, unwrap_key
from imports_app.models import ImportJob
from mediqom.records.quotas import check_scans_available
from tests.conftest import token_for
from tests.imports.conftest import report_pdf
from tests.imports.lab_reports import CZECH
from tests.imports_app.conftest import give_keys, job_body
from tests.imports_app.test_pipeline import PAGE_1, PAGE_2, program_document
from tests.streams.conftest import SseReader

pytestmark = pytest.mark.django_db(transaction=True)


def ai_env(stub: Any, **extra: str) -> dict[str, str]:
    return {
        "MEDIQOM_TASKS_BACKEND": "thread",
        "OPENAI_API_KEY": "sk-test-stub",
        "OPENAI_BASE_URL": stub.openai_base_url,
        "GEMINI_API_KEY": "",
        "GOOGLE_API_KEY": "",
        "MEDIQOM_AI_TIMEOUT_MS": "3000",
        "MEDIQOM_AI_MAX_RETRIES": "0",
        "MEDIQOM_AI_RETRY_BACKOFF_MS": "0",
        **extra,
    }


def program_job(stub: Any, *, delay: float = 0.0) -> None:
    stub.reply(
        tool="ocr_extractor",
        args={"pages": [{"page": 1, "text": PAGE_1}, {"page": 2, "text": PAGE_2}]},
        delay=delay,
    )
    stub.reply(
        tool="document_assessor",
        args={"documents": [{"title": "Biochemie", "date": "2026-11-20", "language": "cs",
                             "isMedical": True, "isMedicalImaging": False, "hasImages": False,
                             "pages": [1, 2]}]},
    )  # fmt: skip
    program_document(stub, delay=delay)


def headers(user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(user)}"}


def create_job(server: Any, user: Any) -> str:
    response = httpx.post(
        f"{server.url}/v1/import/jobs", json=job_body(2), headers=headers(user), timeout=10
    )
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def process(server: Any, user: Any, job_id: str) -> Any:
    return httpx.stream(
        "POST",
        f"{server.url}/v1/import/jobs/{job_id}/process",
        headers={**headers(user), "Accept": "text/event-stream",
                 "Content-Type": "application/json"},
        timeout=30,
    )  # fmt: skip


def data_events(response: Any, *, within: float = 90) -> list[dict[str, Any]]:
    """The run's events up to its complete/error (where the client stops reading), then the
    server must end the response; never waits longer than `within` seconds."""
    reader = SseReader(response)
    deadline = time.monotonic() + within
    events: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        frame = reader.next()
        if frame is None:
            return events  # the server ended the response
        if frame.data:
            events.append(json.loads(frame.data))
            if events[-1]["type"] in ("complete", "error"):
                rest = [f for f in reader.rest() if f.data]
                assert rest == [], "events after the terminal one"
                return events
    raise AssertionError(f"no complete/error within {within} s; got {events[-3:]}")


def get_job(server: Any, user: Any, job_id: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/v1/import/jobs/{job_id}", headers=headers(user))
    assert response.status_code == 200
    return dict(response.json()["job"])


def wait_for(server: Any, user: Any, job_id: str, statuses: tuple[str, ...]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = get_job(server, user, job_id)
        if job["status"] in statuses:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job did not reach {statuses}")


def decrypt(job: dict[str, Any], private_pem: str) -> tuple[Any, Any]:
    key = unwrap_key(private_pem, job["result_encryption_key"])
    return (
        aes_decrypt_json(key, job["encrypted_extraction_result"]),
        aes_decrypt_json(key, job["encrypted_analysis_results"]),
    )


def test_a_job_runs_to_completion_with_one_complete_event_and_encrypted_results(
    start_server, ai_stub, alice
):
    private = give_keys(alice)
    program_job(ai_stub)
    server = start_server(**ai_env(ai_stub))
    job_id = create_job(server, alice)
    scans = check_scans_available(user=alice)["available"]
    with process(server, alice, job_id) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = data_events(response)
    kinds = [e["type"] for e in events]
    assert kinds.count("complete") == 1
    assert kinds[-1] == "complete"
    assert "error" not in kinds
    stages = [e["stage"] for e in events]
    assert stages[0] == "extraction"
    assert "extraction_ocr_extraction" in stages
    assert "analysis" in stages
    assert "analysis_multi_node_dispatcher" in stages
    assert events[-1]["stage"] == "completed"
    assert events[-1]["progress"] == 100
    assert all(set(e) >= {"type", "stage", "progress", "message", "timestamp"} for e in events)
    assert all(0 <= e["progress"] <= 100 for e in events)

    job = get_job(server, alice, job_id)
    assert (job["status"], job["progress"], job["scan_deducted"]) == ("completed", 100, True)
    assert job["extraction_result"] is None
    assert job["file_manifest"][0]["processedImages"] == []  # dropped once extracted
    extraction, analysis = decrypt(job, private)
    assert extraction[0]["documents"][0]["title"] == "Biochemie"
    assert [p["text"] for p in extraction[0]["pages"]] == [PAGE_1, PAGE_2]
    [report] = analysis
    assert report["report"]["title"] == "Biochemie"
    assert {s["signal"] for s in report["signals"]} == {"hemoglobin", "glucose", "crp"}
    assert check_scans_available(user=alice)["available"] == scans - 1
    stored = ImportJob.objects.get(pk=job_id)
    assert stored.checkpoint is None
    assert stored.expires_at is not None


def test_the_job_completes_after_the_client_disconnects(start_server, ai_stub, alice):
    private = give_keys(alice)
    program_job(ai_stub, delay=0.5)
    server = start_server(**ai_env(ai_stub))
    job_id = create_job(server, alice)
    with process(server, alice, job_id) as response:
        reader = SseReader(response)
        first = next(f for f in iter(reader.next, None) if f.data)
        assert json.loads(first.data)["type"] == "progress"
    # the client is gone; a second process call is refused while the run is alive
    conflict = httpx.post(f"{server.url}/v1/import/jobs/{job_id}/process", headers=headers(alice))
    assert conflict.status_code == 409
    assert conflict.json()["message"] == "Job is already being processed"
    job = wait_for(server, alice, job_id, ("completed", "error"))
    assert job["status"] == "completed"
    _, analysis = decrypt(job, private)
    assert analysis[0]["report"]["title"] == "Biochemie"


def test_events_resume_after_last_event_id_without_loss_or_repeat(start_server, ai_stub, alice):
    give_keys(alice)
    program_job(ai_stub)
    server = start_server(**ai_env(ai_stub))
    job_id = create_job(server, alice)
    with process(server, alice, job_id) as response:
        everything = [f for f in SseReader(response).rest() if f.data]
    ids = [f.id for f in everything]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    middle = ids[len(ids) // 2]
    with httpx.stream(
        "GET",
        f"{server.url}/v1/import/jobs/{job_id}/events",
        headers={**headers(alice), "Last-Event-ID": str(middle)},
        timeout=10,
    ) as response:
        rest = [f for f in SseReader(response).rest() if f.data]
    assert [f.id for f in rest] == [i for i in ids if i > middle]
    assert [f.data for f in rest] == [f.data for f in everything if f.id > middle]


def test_a_provider_error_fails_the_job_keeps_the_scan_and_a_retry_resumes(
    start_server, ai_stub, alice
):
    private = give_keys(alice)
    # the analysis stage fails on both configured models, once
    ai_stub.reply(tool="feature_detection", status=500, times=2)
    program_job(ai_stub)
    server = start_server(**ai_env(ai_stub))
    job_id = create_job(server, alice)
    scans = check_scans_available(user=alice)["available"]
    with process(server, alice, job_id) as response:
        events = data_events(response)
    assert [e["type"] for e in events].count("error") == 1
    assert events[-1]["type"] == "error"
    assert events[-1]["code"] == "ai_provider_error"
    assert events[-1]["scanRefunded"] is False
    job = get_job(server, alice, job_id)
    assert job["status"] == "error"
    assert "AI provider failed" in job["error"]
    assert check_scans_available(user=alice)["available"] == scans - 1

    assert httpx.patch(f"{server.url}/v1/import/jobs/{job_id}", headers=headers(alice)).json() == {
        "success": True
    }
    ocr_calls = len(ai_stub.calls(tool="ocr_extractor"))
    with process(server, alice, job_id) as response:
        events = data_events(response)
    assert events[-1]["type"] == "complete"
    assert [e["type"] for e in events].count("complete") == 1
    assert "error" not in [e["type"] for e in events]  # the first run's events are not replayed
    assert len(ai_stub.calls(tool="ocr_extractor")) == ocr_calls  # extraction was not redone
    job = get_job(server, alice, job_id)
    _, analysis = decrypt(job, private)
    assert analysis[0]["report"]["title"] == "Biochemie"
    assert check_scans_available(user=alice)["available"] == scans - 1  # charged once


def test_without_a_key_the_job_runs_offline_and_is_labelled_local(
    start_server, ai_stub, alice, tmp_path
):
    private = give_keys(alice)
    server = start_server(**ai_env(ai_stub, OPENAI_API_KEY=""))
    body = job_body()
    body["files"][0]["processedImages"] = [czech_report_page(tmp_path)]
    response = httpx.post(
        f"{server.url}/v1/import/jobs", json=body, headers=headers(alice), timeout=10
    )
    job_id = response.json()["id"]
    with process(server, alice, job_id) as response:
        events = data_events(response)
    assert events[-1]["type"] == "complete", events[-1]
    assert ai_stub.requests == []
    _, analysis = decrypt(get_job(server, alice, job_id), private)
    [report] = analysis
    assert report["processing"]["providers"] == ["local"]  # every flow went to `local`
    assert report["processing"]["local"] is True
    assert "no AI model" in report["processing"]["label"]
    found = {s["loinc"] for s in report["signals"]}
    expected = {row[5] for row in CZECH.rows if row[5]}
    assert len(found & expected) >= len(expected) - 1  # OCR of a rendered page
    assert report["fhir"]["resourceType"] == "Bundle"


def test_when_no_provider_may_run_the_job_fails_clearly_and_the_scan_is_refunded(
    start_server, ai_stub, alice, tmp_path
):
    give_keys(alice)
    models = tmp_path / "ai-models.yaml"
    models.write_text(
        "providers:\n  openai:\n    kind: openai\n    api_key_setting: OPENAI_API_KEY\n"
        "    models:\n      gpt4: {model_id: gpt-4o}\n"
        "flows:\n"
        + "".join(
            f"  {flow}: {{provider: openai, model: gpt4, local: false}}\n"
            for flow in ("ocr_extraction", "extraction", "document_type_routing",
                         "feature_detection", "medical_analysis")
        )
    )  # fmt: skip
    server = start_server(**ai_env(ai_stub, OPENAI_API_KEY="", MEDIQOM_AI_MODELS_FILE=str(models)))
    job_id = create_job(server, alice)
    scans = check_scans_available(user=alice)["available"]
    with process(server, alice, job_id) as response:
        events = data_events(response)
    assert events[-1]["type"] == "error"
    assert events[-1]["code"] == "ai_unavailable"
    assert events[-1]["scanRefunded"] is True
    assert ai_stub.requests == []
    assert check_scans_available(user=alice)["available"] == scans
    job = get_job(server, alice, job_id)
    assert (job["status"], job["scan_deducted"]) == ("error", False)
    assert "No AI provider is configured" in job["error"]


def czech_report_page(tmp_path: Any) -> str:
    """The Czech lab report of tests/imports rendered to a PDF and rasterised like pdf.js."""
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(report_pdf(CZECH))
    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", "-singlefile", str(pdf), str(tmp_path / "page")],
        check=True,
        timeout=60,
    )
    png = (tmp_path / "page.png").read_bytes()
    return "data:image/png;base64," + base64.b64encode(png).decode()
