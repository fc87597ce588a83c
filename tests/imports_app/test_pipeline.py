"""The import pipeline (contract 7.2-7.6) with the real model clients against the AI stub."""

from __future__ import annotations

import time
from typing import Any

import pytest

from imports_app.pipeline.assess import assess
from imports_app.pipeline.convert import report_analysis
from imports_app.pipeline.imaging import imaging_response, run_medical_imaging_workflow
from imports_app.pipeline.nodes import NODES
from imports_app.pipeline.schemas import schema, schema_names
from imports_app.pipeline.workflow import FEATURE_FLAGS, run_unified_workflow
from mediqom.ai import local_override
from mediqom.errors import InvalidInput

PAGE_1 = """FN Motol - Oddělení klinické biochemie
Pacient: Jan Novák, nar. 1970
Datum odběru: 2026-11-20
Hemoglobin 135 g/L (135 - 175)
Glukóza 5,2 mmol/L (3,9 - 5,6)"""
PAGE_2 = """CRP 12 mg/L (0 - 5) H
Závěr: zvýšené CRP, doporučena kontrola.
MUDr. Petra Svobodová"""
IMAGE = "data:image/png;base64,iVBORw0KGgo="

FEATURES = {
    "isMedical": True,
    "language": "cs",
    "documentType": "laboratory_results",
    "medicalSpecialty": ["pathology", "astrology"],
    "urgencyLevel": 2,
    "tags": ["Eyes", "not-a-tag"],
    **{flag: False for flag in FEATURE_FLAGS},
    "hasSignals": True,
    "hasDiagnosis": True,
}
SIGNALS = [
    {"signal": "hemoglobin", "value": "135", "unit": "g/L", "reference": "135-175",
     "valueType": "number", "date": "2026-11-20"},
    {"signal": "glucose", "value": "5.2", "unit": "mmol/L", "reference": "3.9-5.6",
     "valueType": "number", "date": "2026-11-20"},
    {"signal": "crp", "value": "12", "unit": "mg/L", "reference": "0-5",
     "valueType": "number", "date": "2026-11-20"},
    # Invented by the model: 7.7 is nowhere in the document.
    {"signal": "potassium", "value": "7.7", "unit": "mmol/L", "reference": "3.5-5.1",
     "valueType": "number", "date": "2026-11-20"},
]  # fmt: skip
REPORT = {
    "category": "LABORATORY",
    "title": "Biochemie",
    "summary": "<script>alert(1)</script>Zvýšené **CRP**.",
    "content": "Hemoglobin 135 g/L ...",
    "localizedContent": "Hemoglobin 135 g/L ...",
    "recommendations": [{"urgency": 2, "description": "Kontrola CRP"}],
    "date": "2026-11-20",
    "isMedical": True,
    "confidence": 0.9,
}


def program_document(stub: Any, *, delay: float = 0.0) -> None:
    """Answers for every call the unified workflow makes on the lab report."""
    stub.reply(tool="feature_detection", args=FEATURES)
    stub.reply(tool="extract_medical_report_core", args=REPORT, delay=delay)
    stub.reply(
        tool="extract_diagnosis",
        args={"diagnosis": [{"code": "r79", "description": "Zvýšené CRP"}],
              "processingConfidence": 0.8},
        delay=delay,
    )  # fmt: skip
    stub.reply(
        tool="extract_performer",
        args={"performer": {"role": "doctor", "name": "Petra Svobodová"}},
        delay=delay,
    )
    stub.reply(tool="extract_patient", args={"patient": {"fullName": "Jan Novák"}}, delay=delay)
    stub.reply(
        tool="extract_body_parts",
        args={"bodyParts": [{"identification": "heart", "status": "normal"}]},
        delay=delay,
    )
    stub.reply(
        tool="extract_signals",
        args={"signals": SIGNALS, "processingConfidence": 0.9},
        delay=delay,
    )


def test_every_node_schema_is_a_function_with_an_object_root():
    names = set(schema_names())
    for node in NODES:
        assert node.schema in names, node.name
    for name in names:
        function = schema(name)
        assert function["name"], name
        assert function["parameters"]["type"] == "object", name
    assert "[LANGUAGE]" in str(schema("report_core"))
    enum = schema("report_core")["parameters"]["properties"]["category"]["enum"]
    assert enum[:4] == ["general", "laboratory", "vital-signs", "imaging"]


def test_assess_runs_ocr_then_document_assessment_and_merges(ai_providers):
    ai_providers.reply(
        tool="ocr_extractor",
        args={"pages": [{"page": 1, "text": PAGE_1}, {"page": 2, "text": PAGE_2},
                        {"page": 3, "text": "a page that was never sent"}]},
        tokens=100,
    )  # fmt: skip
    ai_providers.reply(
        tool="document_assessor",
        args={"documents": [{"title": "Biochemie", "date": "2026-11-20", "language": "cs",
                             "isMedical": True, "isMedicalImaging": False, "hasImages": False,
                             "pages": [1, 2, 9]}]},
        tokens=20,
    )  # fmt: skip
    stages: list[tuple[str, float]] = []
    result = assess(
        images=[IMAGE, IMAGE], language="Czech", progress=lambda s, p, m: stages.append((s, p))
    )
    assert result == {
        "pages": [
            {"page": 1, "text": PAGE_1, "language": "cs", "images": []},
            {"page": 2, "text": PAGE_2, "language": "cs", "images": []},
        ],
        "documents": [
            {"title": "Biochemie", "date": "2026-11-20", "language": "cs", "isMedical": True,
             "isMedicalImaging": False, "pages": [1, 2]},
        ],
        "tokenUsage": {"total": 120, "ocr_extractor": 100, "document_assessor": 20},
    }  # fmt: skip
    ocr, assessor = ai_providers.requests
    parts = ocr.body["messages"][1]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "image_url"]
    assert parts[1]["image_url"] == {"url": IMAGE, "detail": "high"}
    assert assessor.model == "gpt-4o-mini"  # document_type_routing: the cheap model
    assert "--- PAGE 2 ---\n" + PAGE_2 in assessor.body["messages"][1]["content"]
    assert ("ocr_extraction", 50) in stages
    assert ("ai_processing", 70) in stages


def test_assess_of_plain_text_needs_no_ocr_call(ai_providers):
    ai_providers.reply(tool="document_assessor", args={"documents": []})
    result = assess(text=PAGE_1 + "\f" + PAGE_2)
    assert [p["page"] for p in result["pages"]] == [1, 2]
    assert result["documents"][0]["pages"] == [1, 2]
    assert [r.tool for r in ai_providers.requests] == ["document_assessor"]


def test_the_workflow_runs_the_triggered_nodes_concurrently_and_builds_the_report(ai_providers):
    delay = 0.4
    program_document(ai_providers, delay=delay)
    events: list[tuple[str, float, str]] = []
    pages = [{"page": 1, "text": PAGE_1}, {"page": 2, "text": PAGE_2}]
    started = time.monotonic()
    state = run_unified_workflow(
        text=PAGE_1 + "\n" + PAGE_2,
        pages=pages,
        language="Czech",
        progress=lambda s, p, m: events.append((s, p, m)),
    )
    elapsed = time.monotonic() - started
    node_calls = [r for r in ai_providers.requests if r.tool != "feature_detection"]
    assert sorted(r.tool for r in node_calls) == sorted(
        [
            "extract_medical_report_core",
            "extract_diagnosis",
            "extract_performer",
            "extract_patient",
            "extract_body_parts",
            "extract_signals",
        ]
    )
    # One priority group: all six requests were in flight before the first answer came.
    arrivals = [r.received for r in node_calls]
    assert max(arrivals) - min(arrivals) < delay
    assert elapsed < 6 * delay

    analysis = report_analysis(state, PAGE_1)
    assert analysis["category"] == "laboratory"
    assert analysis["report"]["summary"] == "Zvýšené **CRP**."
    assert analysis["report"]["diagnosis"] == [{"code": "r79", "description": "Zvýšené CRP"}]
    assert analysis["report"]["patient"] == {"fullName": "Jan Novák"}
    assert analysis["tags"] == ["eyes", "heart"]  # the enum dropped "not-a-tag"
    assert analysis["hasLabOrVitals"] is True
    assert analysis["isMedical"] is True
    assert analysis["tokenUsage"]["total"] == 7 * 42
    assert analysis["processing"] == {
        "providers": ["openai"],
        "models": ["gpt-4o-mini", "gpt-4o-2024-08-06"],
        "local": False,
    }
    for key in (
        "type",
        "fhirType",
        "fhir",
        "content",
        "text",
        "results",
        "recommendations",
        "title",
        "summary",
        "documentType",
        "schemaUsed",
        "confidence",
        "processingComplexity",
        "enhancedFields",
        "hasPrescription",
        "hasImmunization",
    ):
        assert key in analysis, key  # fmt: skip
    assert analysis["fhirType"] == "DiagnosticReport"
    bundle = analysis["fhir"]
    assert bundle["resourceType"] == "Bundle"
    resources = [e["resource"] for e in bundle["entry"]]
    assert resources[0]["resourceType"] == "DiagnosticReport"
    assert resources[0]["status"] == "preliminary"
    assert sum(r["resourceType"] == "Observation" for r in resources) == 3

    stages = [s for s, _, _ in events]
    for stage in (
        "input_validation",
        "document_type_router",
        "provider_selection",
        "feature_detection",
        "multi_node_dispatcher",
        "signal-processing_ai_processing",
        "signal-processing_completion",
        "results_aggregator",
        "medical_terms_generation",
        "quality_gate",
    ):
        assert stage in stages, stage  # fmt: skip
    assert all(0 <= p <= 100 for _, p, _ in events)
    assert ("multi_node_dispatcher", 70, "Executing 6 specialized nodes...") in events
    assert "r79".upper() in state["medicalTermsGeneration"]["medicalTermsData"]["medicalTerms"]


def test_a_value_the_document_does_not_contain_is_rejected_and_kept_values_have_a_source(
    ai_providers,
):
    program_document(ai_providers)
    pages = [{"page": 1, "text": PAGE_1}, {"page": 2, "text": PAGE_2}]
    state = run_unified_workflow(text=PAGE_1 + "\n" + PAGE_2, pages=pages, language="Czech")
    analysis = report_analysis(state)
    by_name = {s["signal"]: s for s in analysis["signals"]}
    assert set(by_name) == {"hemoglobin", "glucose", "crp"}
    assert by_name["glucose"]["provenance"] == {"page": 1, "text": "Glukóza 5,2 mmol/L (3,9 - 5,6)"}
    assert by_name["crp"]["provenance"] == {"page": 2, "text": "CRP 12 mg/L (0 - 5) H"}
    assert analysis["rejectedValues"] == [
        {"signal": "potassium", "reason": "value_not_in_document"}
    ]
    assert analysis["report"]["signals"] == analysis["signals"]


def test_a_non_medical_document_stops_after_feature_detection(ai_providers):
    ai_providers.reply(tool="feature_detection", args={**FEATURES, "isMedical": False})
    state = run_unified_workflow(text="Shopping list: milk, eggs")
    assert [r.tool for r in ai_providers.requests] == ["feature_detection"]
    analysis = report_analysis(state, "Shopping list: milk, eggs")
    assert analysis["isMedical"] is False
    assert analysis["report"] == {}


def test_a_failing_node_is_recorded_and_the_others_survive(ai_providers):
    ai_providers.reply(tool="extract_diagnosis", status=500)
    program_document(ai_providers)
    state = run_unified_workflow(text=PAGE_1 + "\n" + PAGE_2, language="Czech")
    assert state["errors"] == [{"node": "diagnosis-processing", "code": "ai_provider_error"}]
    assert "diagnosis" not in report_analysis(state)["report"]
    assert state["report"]["title"] == "Biochemie"
    assert state["confidence"] == pytest.approx(0.8 * 0.5)


def test_images_without_text_are_read_first_so_values_can_be_checked(ai_providers):
    ai_providers.reply(tool="ocr_extractor", args={"pages": [{"page": 1, "text": PAGE_1}]})
    program_document(ai_providers)
    state = run_unified_workflow(images=[IMAGE], language="Czech")
    assert ai_providers.requests[0].tool == "ocr_extractor"
    assert {s["signal"] for s in state["signals"]} == {"hemoglobin", "glucose"}  # crp: page 2


def test_the_workflow_rejects_bad_input_before_any_model_call(ai_providers):
    with pytest.raises(InvalidInput) as caught:
        run_unified_workflow(text="  ")
    assert caught.value.code == "import_no_input"
    with pytest.raises(InvalidInput):
        run_unified_workflow(images=["file:///etc/passwd"])
    assert ai_providers.requests == []


def test_local_output_is_labelled_as_such(ai_stub):
    features = {**FEATURES, "hasSignals": False, "hasDiagnosis": False}
    with (
        local_override("feature_detection", lambda **_: features),
        local_override(
            "extraction",
            lambda *, schema, **_: (
                REPORT if schema["name"] == "extract_medical_report_core" else {}
            ),
        ),
    ):
        state = run_unified_workflow(text=PAGE_1)
    analysis = report_analysis(state)
    assert analysis["processing"]["local"] is True
    assert "local provider" in analysis["processing"]["label"]
    assert analysis["report"]["title"] == "Biochemie"
    assert ai_stub.requests == []


def test_the_medical_imaging_workflow_runs_its_two_nodes_in_order(ai_providers):
    ai_providers.reply(
        tool="extract_patient_performer_metadata",
        args={"patient": {"fullName": "Jan Novák", "identifier": "700101/1234"},
              "technical": {}, "performers": [{"name": "MUDr. X", "isPrimary": True}]},
    )  # fmt: skip
    ai_providers.reply(
        tool="unified_medical_imaging_analysis",
        args={
            "modality": "x-ray",
            "anatomicalRegion": "chest",
            "viewPosition": "PA",
            "imageQuality": "good",
            "bodyParts": [],
            "anomalies": [{"type": "mass", "urgentFinding": True,
                           "measurements": {"size": "8 mm"}}],
            "overallAssessment": {"summary": "Nodule", "primaryFindings": ["nodule"],
                                  "hasUrgentFindings": True, "overallConfidence": 0.7},
            "visualDescription": "PA chest radiograph",
            "technicalQuality": {"contrast": "ok", "brightness": "ok", "artifacts": "none",
                                 "positioning": "ok"},
        },
    )  # fmt: skip
    events: list[tuple[str, float]] = []
    metadata = {"isDicomExtracted": True, "dicomMetadata": {"modality": "CR",
                "studyDescription": "Chest PA", "studyDate": "2026-11-01"}}  # fmt: skip
    state = run_medical_imaging_workflow(
        images=[IMAGE], language="English", metadata=metadata,
        progress=lambda s, p, m: events.append((s, p)),
    )  # fmt: skip
    assert [r.tool for r in ai_providers.requests] == [
        "extract_patient_performer_metadata",
        "unified_medical_imaging_analysis",
    ]
    unified = state["medicalImagingAnalysis"]
    assert unified["tags"] == ["medical_imaging", "x-ray", "urgent"]
    assert unified["fhirType"] == "ImagingStudy"
    assert unified["report"]["title"] == "Chest PA"
    assert unified["report"]["recommendations"] == []
    assert unified["report"]["performer"] == {"name": "MUDr. X", "isPrimary": True}
    assert [p for s, p in events if s == "patient_performer_detection"] == [0, 50]
    assert [p for s, p in events if s == "medical_imaging_analysis"] == [50, 100]
    response = imaging_response(state, images=[IMAGE], language="English", metadata=metadata)
    assert response["documents"][0] == {
        "title": "Chest PA", "date": "2026-11-01", "language": "english", "isMedical": True,
        "isMedicalImaging": True, "pages": [1],
    }  # fmt: skip
    assert response["metadata"]["nodesExecuted"] == [
        "patient_performer_detection",
        "medical_imaging_analysis",
    ]
    assert response["medicalImageAnalysis"]["urgentFindings"][0]["type"] == "mass"
    assert response["tokenUsage"] == {"total": 84}
