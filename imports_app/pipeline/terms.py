"""Rule-based medical terms for search (contract 7.3 step 7; no model call)."""

from __future__ import annotations

import datetime as dt
from typing import Any

_LATEST = (
    "latest",
    "newest",
    "most recent",
    "last",
    "current",
    "poslední",
    "nejnovější",
    "aktuální",
    "neueste",
    "letzte",
    "aktuellste",
)
_RECENT = (
    "recent",
    "recently",
    "this month",
    "past month",
    "new",
    "nedávné",
    "nedávno",
    "tento měsíc",
    "kürzlich",
    "neulich",
    "diesen monat",
)


def _words(values: Any) -> list[str]:
    return [str(v) for v in values or [] if isinstance(v, str) and v.strip()]


def temporal_type(state: dict[str, Any]) -> str:
    date = str((state.get("report") or {}).get("date") or "")[:10]
    try:
        days = (dt.datetime.now(dt.UTC).date() - dt.date.fromisoformat(date)).days
    except ValueError:
        days = None
    if days is not None and days <= 7:
        return "latest"
    if days is not None and days <= 30:
        return "recent"
    text = str(state.get("text") or "").lower()
    if any(k in text for k in _LATEST):
        return "latest"
    if any(k in text for k in _RECENT):
        return "recent"
    return "historical"


def medical_terms(state: dict[str, Any]) -> dict[str, Any]:
    """`medicalTermsGeneration` for the state (skipped for non-medical or empty results)."""
    now = dt.datetime.now(dt.UTC).isoformat()
    report = state.get("report")
    if not report:
        return {"skipped": True, "reason": "Insufficient analysis results", "timestamp": now}
    if not (state.get("featureDetectionResults") or {}).get("isMedical"):
        return {"skipped": True, "reason": "Non-medical content", "timestamp": now}
    terms: set[str] = set()
    analysis = state.get("documentTypeAnalysis") or {}
    if analysis.get("documentType"):
        terms.add(str(analysis["documentType"]).lower())
    terms.update(s.lower() for s in _words(analysis.get("medicalSpecialty")))
    for part in state.get("bodyParts") or []:
        if isinstance(part, dict) and part.get("identification"):
            terms.add(str(part["identification"]).lower())
    for diagnosis in state.get("diagnosis") or []:
        if isinstance(diagnosis, dict):
            if diagnosis.get("code"):
                terms.add(str(diagnosis["code"]).upper())
            terms.update(k.lower() for k in _words(diagnosis.get("searchKeywords")))
    procedures = state.get("procedures") or {}
    for procedure in procedures.get("procedures", []) if isinstance(procedures, dict) else []:
        if isinstance(procedure, dict):
            for key in ("name", "procedureCategory"):
                if procedure.get(key):
                    terms.add(str(procedure[key]).lower())
            if procedure.get("cptCode"):
                terms.add(str(procedure["cptCode"]).upper())
            terms.update(k.lower() for k in _words(procedure.get("searchKeywords")))
    medications = state.get("medications") or {}
    if isinstance(medications, dict):
        for kind in ("newPrescriptions", "currentMedications"):
            for medication in medications.get(kind) or []:
                if isinstance(medication, dict):
                    for key in ("medicationName", "genericName"):
                        if medication.get(key):
                            terms.add(str(medication[key]).lower())
                    terms.update(c.lower() for c in _words(medication.get("therapeuticClass")))
                    terms.update(t.lower() for t in _words(medication.get("searchTerms")))
    for signal in state.get("signals") or []:
        if isinstance(signal, dict):
            for key in ("signal", "labCategory"):
                if signal.get(key):
                    terms.add(str(signal[key]).lower())
            terms.update(t.lower() for t in _words(signal.get("searchTerms")))
    imaging = state.get("imaging") or {}
    if isinstance(imaging, dict):
        if imaging.get("imagingCategory"):
            terms.add(str(imaging["imagingCategory"]).lower())
        terms.update(k.lower() for k in _words(imaging.get("searchKeywords")))
    temporal = temporal_type(state)
    terms.add(temporal)
    final = sorted(t for t in terms if t.strip())
    return {
        "success": True,
        "termsCount": len(final),
        "temporalType": temporal,
        "timestamp": now,
        "medicalTermsData": {
            "medicalTerms": final,
            "temporalType": temporal,
            "metadata": {
                "language": state.get("language") or "en",
                "documentType": analysis.get("documentType") or "document",
                "processingDate": now,
                "extractionMethod": "aggregated_analysis",
            },
        },
    }
