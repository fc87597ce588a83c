"""The offline `local` import provider is reached through the AI layer's registry: flows are
routed by config/ai-models.yaml, `local` works as a fallback provider when the primary is
unreachable (a closed port: the real OpenAI client gets connection refused) or answers
errors (the stub), and its output is labelled local. Nothing here registers a function: the
imports app did at start-up (ImportsAppConfig.ready)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from imports_app.local import flows
from imports_app.pipeline.assess import assess
from imports_app.pipeline.convert import report_analysis
from imports_app.pipeline.schemas import schema
from imports_app.pipeline.usage import Usage
from imports_app.pipeline.workflow import run_unified_workflow
from mediqom.ai import AIProviderError, structured_call
from mediqom.ai.local import local_function
from tests.imports.lab_reports import CZECH

IMPORT_FLOWS = ("ocr_extraction", "document_type_routing", "feature_detection", "extraction")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def models_yaml(tmp_path: Path, *, fallback: str) -> Path:
    path = tmp_path / "ai-models.yaml"
    path.write_text(
        "providers:\n"
        "  openai:\n    kind: openai\n    api_key_setting: OPENAI_API_KEY\n"
        "    base_url_setting: OPENAI_BASE_URL\n"
        "    models:\n      gpt4: {model_id: gpt-4o-2024-08-06}\n"
        "  local:\n    kind: local\n"
        "flows:\n"
        + "".join(
            f"  {flow}: {{provider: openai, model: gpt4, {fallback}}}\n"
            for flow in (*IMPORT_FLOWS, "medical_analysis")
        )
    )  # fmt: skip
    return path


@pytest.fixture
def unreachable_primary(settings: Any, tmp_path: Path) -> Any:
    """OpenAI configured with a key but pointing at a port nobody listens on; `local` is
    every import flow's fallback provider."""
    settings.OPENAI_API_KEY = "sk-test-unreachable"
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{closed_port()}/v1"
    settings.GEMINI_API_KEY = ""
    settings.MEDIQOM_AI_TIMEOUT_MS = 2000
    settings.MEDIQOM_AI_MAX_RETRIES = 0
    settings.MEDIQOM_AI_RETRY_BACKOFF_MS = 0
    settings.MEDIQOM_AI_MODELS_FILE = models_yaml(
        tmp_path, fallback="fallback_providers: [{provider: local}]"
    )
    return settings


def test_the_imports_app_registered_its_local_flows():
    for flow in IMPORT_FLOWS:
        assert local_function(flow) is flows.LOCAL_FLOWS[flow]


def test_an_unreachable_primary_falls_back_to_the_registered_local_flow(
    unreachable_primary, caplog
):
    caplog.set_level("WARNING", logger="mediqom.analysis")
    result = structured_call(
        flow="document_type_routing",
        schema=schema("document_assessor"),
        system="Assess.",
        content="--- PAGE 1 ---\n" + CZECH.text(),
        language="Czech",
    )
    assert (result.provider, result.model, result.labelled_local) == ("local", "local", True)
    assert "flow=document_type_routing provider=openai" in caplog.text  # tried, refused
    [document] = result.data["documents"]
    assert document["pages"] == [1]
    assert document["isMedical"] is True


def test_a_failing_primary_falls_back_to_local_after_its_attempts(ai_providers, settings, tmp_path):
    settings.MEDIQOM_AI_MODELS_FILE = models_yaml(
        tmp_path, fallback="fallback_providers: [{provider: local}]"
    )
    ai_providers.reply(api="openai", status=500)
    result = structured_call(
        flow="feature_detection",
        schema=schema("feature_detection"),
        system="Detect.",
        content=CZECH.text(),
        language="Czech",
    )
    assert len(ai_providers.calls(api="openai", tool="feature_detection")) == 1  # tried first
    assert result.labelled_local is True
    assert result.data["hasSignals"] is True
    assert result.data["documentType"] == "laboratory_results"


def test_without_local_in_the_chain_an_unreachable_primary_is_an_error(
    unreachable_primary, tmp_path
):
    unreachable_primary.MEDIQOM_AI_MODELS_FILE = models_yaml(tmp_path, fallback="local: true")
    with pytest.raises(AIProviderError) as caught:
        structured_call(
            flow="extraction",
            schema=schema("signals"),
            system="Extract.",
            content=CZECH.text(),
            language="Czech",
        )
    assert caught.value.attempts == [("openai", "gpt-4o-2024-08-06", "ai_provider_error")]


def test_a_whole_document_runs_on_the_local_fallback_labelled_and_coded(unreachable_primary):
    usage = Usage()
    assessment = assess(text=CZECH.text(), language="Czech", usage=usage)
    assert len(assessment["documents"]) == 1
    pages = assessment["pages"]
    text = "\n".join(p["text"] for p in pages)
    state = run_unified_workflow(text=text, pages=pages, language="Czech", usage=usage)
    analysis = report_analysis(state, text)

    assert analysis["processing"]["providers"] == ["local"]
    assert analysis["processing"]["local"] is True
    assert "no AI model was used" in analysis["processing"]["label"]
    assert {"check": "provider", "status": "local"} in analysis["enhancedFields"]["qualityChecks"]
    expected = {row[5] for row in CZECH.rows if row[5]}
    assert {s["loinc"] for s in analysis["signals"]} == expected  # coded from the tables
    assert all(s["provenance"]["text"] for s in analysis["signals"])
    assert analysis["fhir"]["resourceType"] == "Bundle"
    observations = [e["resource"] for e in analysis["fhir"]["entry"]][1:]
    assert {o["code"]["coding"][0]["code"] for o in observations} == expected


def test_a_remote_providers_values_get_the_same_coding_from_the_document(ai_providers):
    from tests.imports_app.test_pipeline import PAGE_1, PAGE_2, program_document

    program_document(ai_providers)
    pages = [{"page": 1, "text": PAGE_1}, {"page": 2, "text": PAGE_2}]
    state = run_unified_workflow(text=PAGE_1 + "\n" + PAGE_2, pages=pages, language="Czech")
    by_name = {s["signal"]: s for s in report_analysis(state)["signals"]}
    assert state["processing"]["local"] is False
    assert by_name["glucose"]["loinc"] == "14749-6"  # mmol/L: the molar LOINC code
    assert by_name["glucose"]["ucum"] == "mmol/L"
    assert by_name["glucose"]["referenceRange"] == {"low": 3.9, "high": 5.6}
    assert by_name["crp"]["flag"] == "H"  # printed on the line
    assert by_name["hemoglobin"]["flag"] == "N"  # 135 within 135 - 175
