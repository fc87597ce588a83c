"""The one-shot import routes over real HTTP: a uvicorn server process on the test database,
the real OpenAI client against the AI stub (or the offline provider), the SSE bodies read
byte for byte like the client reads them."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from mediqom.records.quotas import check_scans_available
from tests.imports_app.conftest import give_keys, page_image
from tests.imports_app.test_job_lifecycle_http import (
    ai_env,
    create_job,
    data_events,
    decrypt,
    headers,
    process,
    program_job,
)
from tests.imports_app.test_pipeline import PAGE_1, PAGE_2, program_document

pytestmark = pytest.mark.django_db(transaction=True)

PROGRESS_KEYS = {"type", "stage", "progress", "message", "timestamp"}
ASSESSMENT_KEYS = {"pages", "documents", "tokenUsage"}
REPORT_ANALYSIS_KEYS = {
    "type", "fhirType", "fhir", "category", "isMedical", "tags", "hasPrescription",
    "hasImmunization", "hasLabOrVitals", "content", "report", "text", "tokenUsage", "results",
    "recommendations", "title", "summary", "signals", "documentType", "schemaUsed",
    "confidence", "processingComplexity", "enhancedFields", "processing", "rejectedValues",
}  # fmt: skip
UNIFIED_IMAGING_KEYS = {
    "type", "fhirType", "fhir", "category", "isMedical", "tags", "hasPrescription",
    "hasImmunization", "hasLabOrVitals", "content", "text", "report", "tokenUsage",
    "confidence", "processingComplexity", "documentType", "schemaUsed", "processing",
}  # fmt: skip


def post_stream(server: Any, user: Any, route: str, body: dict[str, Any]) -> Any:
    return httpx.stream(
        "POST",
        f"{server.url}{route}",
        json=body,
        headers={**headers(user), "Accept": "text/event-stream"},
        timeout=60,
    )


def sse_body(server: Any, user: Any, route: str, body: dict[str, Any]) -> tuple[Any, str]:
    """The whole response, read to its end (the server must close it)."""
    with post_stream(server, user, route, body) as response:
        raw = response.read().decode()
    return response, raw


def frames(raw: str) -> list[dict[str, Any]]:
    """Exactly the client's parser rules (§12): frames end with a blank line; a data frame is
    one `data: <compact JSON>` line; only `:` comments besides; never an `event:` line."""
    assert raw.endswith("\n\n")
    events = []
    for block in raw.split("\n\n")[:-1]:
        lines = block.split("\n")
        if all(line.startswith(":") for line in lines):
            continue  # `: connected`, `: keepalive`
        assert len(lines) == 1, f"one line per data frame: {block[:200]!r}"
        assert lines[0].startswith("data: {"), lines[0][:80]
        payload = lines[0].removeprefix("data: ")
        event = json.loads(payload)
        assert payload == json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        events.append(event)
    return events


def assert_framing(events: list[dict[str, Any]], terminal: str) -> None:
    kinds = [e["type"] for e in events]
    assert kinds[-1] == terminal
    assert kinds.count("complete") + kinds.count("error") == 1  # one terminal event, last
    assert all(set(e) >= PROGRESS_KEYS for e in events)
    assert all(0 <= e["progress"] <= 100 for e in events)


def scans(user: Any) -> int:
    return int(check_scans_available(user=user)["available"])


def program_assessment(stub: Any) -> None:
    stub.reply(
        tool="ocr_extractor",
        args={"pages": [{"page": 1, "text": PAGE_1}, {"page": 2, "text": PAGE_2}]},
    )
    stub.reply(
        tool="document_assessor",
        args={"documents": [{"title": "Biochemie", "date": "2026-11-20", "language": "cs",
                             "isMedical": True, "isMedicalImaging": False, "hasImages": False,
                             "pages": [1, 2]}]},
    )  # fmt: skip


def program_imaging(stub: Any) -> None:
    stub.reply(
        tool="extract_patient_performer_metadata",
        args={"patient": {"fullName": "Jan Novák"}, "technical": {},
              "performers": [{"name": "MUDr. X", "isPrimary": True}]},
    )  # fmt: skip
    stub.reply(
        tool="unified_medical_imaging_analysis",
        args={
            "modality": "x-ray", "anatomicalRegion": "chest", "viewPosition": "PA",
            "imageQuality": "good", "bodyParts": [],
            "anomalies": [{"type": "mass", "urgentFinding": True,
                           "measurements": {"size": "8 mm"}}],
            "overallAssessment": {"summary": "Nodule", "primaryFindings": ["nodule"],
                                  "hasUrgentFindings": True, "overallConfidence": 0.7},
            "visualDescription": "PA chest radiograph",
            "technicalQuality": {"contrast": "ok", "brightness": "ok", "artifacts": "none",
                                 "positioning": "ok"},
        },
    )  # fmt: skip


IMAGING_BODY = {
    "images": [page_image(), page_image()],
    "language": "English",
    "metadata": {"isDicomExtracted": True,
                 "dicomMetadata": {"modality": "CR", "studyDescription": "Chest PA",
                                   "studyDate": "2026-11-01"}},
}  # fmt: skip


def test_extract_stream_reports_the_stages_and_ends_with_one_complete_assessment(
    start_server, ai_stub, alice
):
    program_assessment(ai_stub)
    server = start_server(**ai_env(ai_stub))
    before = scans(alice)
    response, raw = sse_body(
        server,
        alice,
        "/v1/import/extract/stream",
        {"images": [page_image(), page_image()], "language": "Czech"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert "event:" not in raw
    events = frames(raw)
    assert_framing(events, "complete")
    stages = [(e["stage"], e["progress"]) for e in events]
    assert stages[:3] == [("initialization", 0), ("image_processing", 25), ("ocr_extraction", 50)]
    assert ("ai_processing", 40) in stages
    assert ("ai_processing", 70) in stages
    assert ("document_splitting", 75) in stages
    assert stages[-1] == ("completed", 100)
    assert all(e["type"] == "progress" for e in events[:-1])
    assessment = events[-1]["data"]
    assert set(assessment) == ASSESSMENT_KEYS
    assert [p["text"] for p in assessment["pages"]] == [PAGE_1, PAGE_2]
    assert all(
        set(p) == {"page", "text", "language", "images", "thumbnail"} for p in assessment["pages"]
    )
    assert all(p["thumbnail"].startswith("data:image/jpeg;base64,") for p in assessment["pages"])
    assert assessment["documents"] == [
        {"title": "Biochemie", "date": "2026-11-20", "language": "cs", "isMedical": True,
         "isMedicalImaging": False, "pages": [1, 2]}
    ]  # fmt: skip
    assert assessment["tokenUsage"]["total"] > 0
    assert scans(alice) == before - 1


def test_extract_returns_the_assessment_as_json(start_server, ai_stub, alice):
    program_assessment(ai_stub)
    server = start_server(**ai_env(ai_stub))
    response = httpx.post(
        f"{server.url}/v1/import/extract",
        json={"images": [page_image(), page_image()]},
        headers=headers(alice),
        timeout=60,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == ASSESSMENT_KEYS
    assert [p["page"] for p in body["pages"]] == [1, 2]
    assert all(p["thumbnail"] for p in body["pages"])
    assert [r.tool for r in ai_stub.requests] == ["ocr_extractor", "document_assessor"]


def test_report_stream_and_report_give_the_report_analysis(start_server, ai_stub, alice):
    program_document(ai_stub)
    server = start_server(**ai_env(ai_stub))
    before = scans(alice)
    body = {"text": f"{PAGE_1}\n{PAGE_2}", "language": "Czech"}
    response, raw = sse_body(server, alice, "/v1/import/report/stream", body)
    assert response.status_code == 200
    events = frames(raw)
    assert_framing(events, "complete")
    first = events[0]
    assert (first["stage"], first["progress"], first["data"]) == (
        "analysis_initialization", 30, {"phase": "analysis"},
    )  # fmt: skip
    stages = [e["stage"] for e in events]
    for stage in ("input_validation", "feature_detection", "multi_node_dispatcher",
                  "results_aggregator", "medical_terms_generation", "quality_gate"):  # fmt: skip
        assert stage in stages, stage
    analysis = events[-1]["data"]
    assert set(analysis) == REPORT_ANALYSIS_KEYS
    assert analysis["report"]["title"] == "Biochemie"
    assert {s["signal"] for s in analysis["signals"]} == {"hemoglobin", "glucose", "crp"}
    assert [r["signal"] for r in analysis["rejectedValues"]] == ["potassium"]

    plain = httpx.post(
        f"{server.url}/v1/import/report", json=body, headers=headers(alice), timeout=60
    )
    assert plain.status_code == 200, plain.text
    assert set(plain.json()) == REPORT_ANALYSIS_KEYS
    assert plain.json()["signals"] == analysis["signals"]
    assert scans(alice) == before - 2  # one scan each


def test_medical_imaging_stream_and_plain_follow_the_imaging_workflow(start_server, ai_stub, alice):
    program_imaging(ai_stub)
    server = start_server(**ai_env(ai_stub))
    before = scans(alice)
    response, raw = sse_body(server, alice, "/v1/import/medical-imaging/stream", IMAGING_BODY)
    assert response.status_code == 200
    events = frames(raw)
    assert_framing(events, "complete")
    assert [(e["stage"], e["progress"]) for e in events[:2]] == [
        ("imaging_initialization", 30),
        ("workflow_initialization", 35),
    ]
    assert events[0]["data"] == {"phase": "medical_imaging"}
    nodes = [(e["stage"], e["progress"]) for e in events[2:-1]]
    assert nodes == [
        ("patient_performer_detection", 0),
        ("patient_performer_detection", 50),
        ("medical_imaging_analysis", 50),
        ("medical_imaging_analysis", 100),
    ]
    result = events[-1]["data"]
    assert set(result) == UNIFIED_IMAGING_KEYS | {"isMedicalImaging", "pages", "documents",
                                                  "metadata"}  # fmt: skip
    assert (result["type"], result["fhirType"], result["schemaUsed"]) == (
        "medical_imaging", "ImagingStudy", "medical_imaging_v1",
    )  # fmt: skip
    assert result["tags"] == ["medical_imaging", "x-ray", "urgent"]
    assert result["pages"] == [
        {"page": 1, "text": "", "image": "medical-image-1", "thumbnail": "medical-thumbnail-1"},
        {"page": 2, "text": "", "image": "medical-image-2", "thumbnail": "medical-thumbnail-2"},
    ]
    assert result["documents"] == [
        {"title": "Chest PA", "date": "2026-11-01", "language": "english", "isMedical": True,
         "isMedicalImaging": True, "pages": [1, 2]}
    ]  # fmt: skip
    assert result["metadata"]["workflowVersion"] == "2.0"
    assert result["metadata"]["nodesExecuted"] == [
        "patient_performer_detection",
        "medical_imaging_analysis",
    ]

    plain = httpx.post(
        f"{server.url}/v1/import/medical-imaging",
        json=IMAGING_BODY,
        headers=headers(alice),
        timeout=60,
    )
    assert plain.status_code == 200, plain.text
    answer = plain.json()
    assert set(answer) == {"pages", "documents", "medicalImageAnalysis", "metadata", "tokenUsage"}
    assert answer["pages"] == [
        {"page": 1, "text": "", "image": IMAGING_BODY["images"][0],
         "thumbnail": IMAGING_BODY["images"][0]}
    ]  # fmt: skip
    assert set(answer["medicalImageAnalysis"]) == {
        "visualAnalysis", "bodyParts", "anomalies", "measurements", "primaryRegion",
        "urgentFindings", "imagingMetadata",
    }  # fmt: skip
    assert answer["metadata"]["workflowVersion"] == "1.0"
    assert answer["metadata"]["isDicomExtracted"] is True
    assert answer["tokenUsage"]["total"] > 0
    assert scans(alice) == before - 2


def test_a_provider_failure_is_one_error_frame_and_the_scan_stays_charged(
    start_server, ai_stub, alice
):
    ai_stub.reply(api="openai", status=500)
    server = start_server(**ai_env(ai_stub))
    before = scans(alice)
    response, raw = sse_body(server, alice, "/v1/import/extract/stream", {"images": [page_image()]})
    assert response.status_code == 200
    events = frames(raw)
    assert_framing(events, "error")
    error = events[-1]
    assert (error["stage"], error["progress"]) == ("error", 0)
    assert error["code"] == "ai_provider_error"
    assert error["scanRefunded"] is False  # a model was called
    assert scans(alice) == before - 1


def test_a_failure_before_any_ai_call_is_an_error_frame_and_the_scan_comes_back(
    start_server, alice
):
    # Offline (no key): the local provider OCRs the page, but Tesseract is not on the PATH.
    server = start_server(OPENAI_API_KEY="", GEMINI_API_KEY="", GOOGLE_API_KEY="", PATH="/none")
    before = scans(alice)
    response, raw = sse_body(server, alice, "/v1/import/extract/stream", {"images": [page_image()]})
    assert response.status_code == 200
    events = frames(raw)
    assert_framing(events, "error")
    assert events[-1]["code"] == "ocr_unavailable"
    assert events[-1]["scanRefunded"] is True
    assert scans(alice) == before


def test_streams_refuse_before_streaming(start_server, ai_stub, alice):
    server = start_server(**ai_env(ai_stub))
    no_token = httpx.post(f"{server.url}/v1/import/report/stream", json={"text": "x"}, timeout=10)
    assert no_token.status_code == 401
    assert no_token.json()["message"] == "Unauthorized"
    bad = httpx.post(
        f"{server.url}/v1/import/extract/stream",
        json={"images": ["data:image/png;base64,AAAA"]},
        headers={**headers(alice), "Accept": "text/event-stream"},
        timeout=10,
    )
    assert bad.status_code == 415
    assert bad.json()["code"] == "unsupported_media_type"
    assert bad.headers["content-type"].startswith("application/json")
    assert ai_stub.requests == []


def test_a_jobs_results_carry_thumbnails_and_its_pages_cost_no_second_scan(
    start_server, ai_stub, alice
):
    private = give_keys(alice)
    program_job(ai_stub)
    server = start_server(**ai_env(ai_stub))
    job_id = create_job(server, alice)
    with process(server, alice, job_id) as response:
        assert response.status_code == 200
        assert data_events(response)[-1]["type"] == "complete"
    job = httpx.get(f"{server.url}/v1/import/jobs/{job_id}", headers=headers(alice)).json()["job"]
    extraction, _ = decrypt(job, private)
    pages = extraction[0]["pages"]
    assert [p["page"] for p in pages] == [1, 2]
    assert all(p["thumbnail"].startswith("data:image/jpeg;base64,") for p in pages)
    assert "pageFingerprints" not in job["file_manifest"][0]

    after_job = scans(alice)
    # The client's finaliser asks for the thumbnails of the job's pages.
    response = httpx.post(
        f"{server.url}/v1/import/extract",
        json={"images": [page_image(), page_image()]},
        headers=headers(alice),
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert all(p["thumbnail"] for p in response.json()["pages"])
    assert scans(alice) == after_job
