"""The workflow state as the client's ReportAnalysis (contract 7.5, convertWorkflowResult)."""

from __future__ import annotations

from typing import Any

from .nodes import WRAPPER_KEYS

SECTIONS = (
    "diagnosis", "performer", "patient", "bodyParts", "signals", "ecg", "echo", "allergies",
    "anesthesia", "microscopic", "triage", "immunizations", "specimens", "admission", "dental",
    "tumorCharacteristics", "treatmentPlan", "treatmentResponse", "imagingFindings",
    "grossFindings", "specialStains", "socialHistory", "treatments", "assessment", "molecular",
    "medications", "procedures", "imaging",
)  # fmt: skip


def strip_metadata(data: Any, section: str | None = None) -> Any:
    """Wrapper metadata removed; `{section: x}` double nesting unwrapped to `x`."""
    if isinstance(data, list):
        return [strip_metadata(item) for item in data]
    if not isinstance(data, dict):
        return data
    clean = {k: v for k, v in data.items() if k not in WRAPPER_KEYS}
    if section and section in clean and len(clean) == 1:
        return clean[section]
    return clean


def report_analysis(state: dict[str, Any], fallback_text: str = "") -> dict[str, Any]:
    """ReportAnalysis: type, fhirType, fhir, category, isMedical, tags, has*, content, report,
    text, tokenUsage, results, recommendations, title, summary, signals, documentType,
    schemaUsed, confidence, processingComplexity, enhancedFields (+ processing, the label of
    what produced it, and rejectedValues)."""
    main = state.get("report") if isinstance(state.get("report"), dict) else {}
    report: dict[str, Any] = dict(main or {})
    for section in SECTIONS:
        if state.get(section) is not None:
            report[section] = strip_metadata(state[section], section)
    signals = report.get("signals") if isinstance(report.get("signals"), list) else None
    tags = list(state.get("tags") or [])
    for part in report.get("bodyParts") or []:
        identification = part.get("identification") if isinstance(part, dict) else None
        if isinstance(identification, str) and identification and identification not in tags:
            tags.append(identification)
    flags = state.get("featureDetectionResults") or {}
    is_medical = report.get("isMedical")
    if is_medical is None:
        is_medical = bool(flags.get("isMedical", True)) if flags else True
    content = report.get("content")
    return {
        "type": report.get("type") or "report",
        "fhirType": "DiagnosticReport",
        "fhir": {},
        "category": report.get("category") or "report",
        "isMedical": is_medical,
        "tags": tags,
        "hasPrescription": bool(flags.get("hasPrescriptions")),
        "hasImmunization": bool(flags.get("hasImmunizations")),
        "hasLabOrVitals": bool(flags.get("hasSignals") or signals),
        "content": content if isinstance(content, str) and content else fallback_text,
        "report": report,
        "text": state.get("text") or fallback_text or "",
        "tokenUsage": state.get("tokenUsage") or {"total": 0},
        "results": state.get("results"),
        "recommendations": report.get("recommendations"),
        "title": report.get("title"),
        "summary": report.get("summary"),
        "signals": signals,
        "documentType": (state.get("documentTypeAnalysis") or {}).get("documentType"),
        "schemaUsed": "unified_workflow_v1",
        "confidence": state.get("confidence"),
        "processingComplexity": _complexity(state),
        "enhancedFields": {
            "medicalTerms": (
                (state.get("medicalTermsGeneration") or {})
                .get("medicalTermsData", {})
                .get("medicalTerms", [])
            ),
            "qualityChecks": state.get("qualityChecks", []),
        },
        "processing": state.get("processing") or {"providers": [], "models": [], "local": False},
        "rejectedValues": state.get("rejectedValues", []),
    }


def _complexity(state: dict[str, Any]) -> str:
    processed = len((state.get("multiNodeResults") or {}).get("processedNodes", []))
    if processed > 8:
        return "high"
    if processed > 4:
        return "medium"
    return "low"
