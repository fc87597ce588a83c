"""FHIR R4 output of an import: a Bundle with a DiagnosticReport and one Observation per lab value.

Built from a `ReportAnalysis` dict (§7.5) and checked against the `fhir.resources` R4B models
(R4B shares R4's DiagnosticReport/Observation/Bundle structure). Everything is `preliminary`
until a person confirms it. Units go into `valueQuantity.code` only when they are valid UCUM
(parsed with ucumvert's UCUM grammar); LOINC codes come from the curated table only.
"""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from imports_app.local.catalog import loinc_codes
from mediqom.errors import ApiError

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DIAGNOSTIC_SERVICE = "http://terminology.hl7.org/CodeSystem/v2-0074"
_NAMESPACE = uuid.UUID("6f1c9a52-4d3e-4f7e-9d0a-1c5b7e2a9f10")
_INTERPRETATIONS = {
    "H": "High",
    "HH": "Critical high",
    "L": "Low",
    "LL": "Critical low",
    "N": "Normal",
    "A": "Abnormal",
}
_CATEGORIES = {"laboratory": "Laboratory", "vital-signs": "Vital Signs"}
_COMPARATORS = {"<": "<", ">": ">", "≤": "<=", "≥": ">=", "<=": "<=", ">=": ">="}
_REPORT_CODES = {
    "laboratory": ("11502-2", "Laboratory report"),
    "imaging": ("18748-4", "Diagnostic imaging study"),
}


class FhirInvalid(ApiError):
    status = 422
    code = "fhir_invalid"
    default_message = "The FHIR bundle did not validate"


@cache
def _ucum_parser() -> Any:
    from ucumvert.parser import get_ucum_parser  # loads the UCUM grammar once

    return get_ucum_parser()


@cache
def is_ucum(code: str) -> bool:
    """True for a syntactically valid UCUM code made of UCUM atoms ('mmol/L', '10*9/L')."""
    from ucumvert.parser import parse_ucum

    if not code or any(ch.isspace() for ch in code) or "^" in code:
        return False
    try:
        parse_ucum(code, _ucum_parser())
    except Exception:  # noqa: BLE001 - ucumvert raises lark errors of several kinds
        return False
    return True


def _number(value: object) -> float | None:
    """A signal's value as a number: the client's schema carries it as a dot-decimal string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip().replace(",", "."))
        except ValueError:
            return None
    return None


def _id(*parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, "|".join(str(p) for p in parts)))


def _quantity(value: float, unit: str | None, ucum: str | None) -> dict[str, Any]:
    quantity: dict[str, Any] = {"value": value}
    if unit:
        quantity["unit"] = unit
    if ucum and is_ucum(ucum):
        quantity["system"] = UCUM
        quantity["code"] = ucum
    return quantity


def _observation(signal: dict[str, Any], *, date: str | None) -> dict[str, Any]:
    code: dict[str, Any] = {
        "text": signal.get("name") or signal.get("display") or signal.get("signal")
    }
    loinc = signal.get("loinc")
    if loinc and loinc in loinc_codes():
        code["coding"] = [{"system": LOINC, "code": loinc, "display": signal.get("loincDisplay")}]
    kind = "vital-signs" if signal.get("observationCategory") == "vital-signs" else "laboratory"
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "preliminary",
        "category": [
            {
                "coding": [
                    {"system": OBSERVATION_CATEGORY, "code": kind, "display": _CATEGORIES[kind]}
                ]
            }
        ],
        "code": code,
    }
    value = _number(signal.get("value"))
    if value is not None:
        quantity = _quantity(value, signal.get("unit"), signal.get("ucum"))
        comparator = _COMPARATORS.get(str(signal.get("comparator") or ""))
        if comparator:
            quantity["comparator"] = comparator
        observation["valueQuantity"] = quantity
    elif signal.get("value") not in (None, ""):
        observation["valueString"] = str(signal["value"])[:1000]
    low_high = signal.get("referenceRange") or {}
    reference: dict[str, Any] = {}
    for bound in ("low", "high"):
        if isinstance(low_high.get(bound), int | float):
            reference[bound] = _quantity(
                float(low_high[bound]), signal.get("unit"), signal.get("ucum")
            )
    if signal.get("reference"):
        reference["text"] = str(signal["reference"])
    if reference:
        observation["referenceRange"] = [reference]
    flag = signal.get("flag")
    if flag in _INTERPRETATIONS:
        observation["interpretation"] = [
            {
                "coding": [
                    {"system": INTERPRETATION, "code": flag, "display": _INTERPRETATIONS[flag]}
                ]
            }
        ]
    when = signal.get("date") or date
    if when:
        observation["effectiveDateTime"] = when
    evidence = signal.get("evidence")
    if isinstance(evidence, dict) and isinstance(evidence.get("page"), int):
        observation["note"] = [{"text": f"Read from page {evidence['page']}"}]
    return observation


def build_bundle(analysis: dict[str, Any]) -> dict[str, Any]:
    """An R4 `collection` Bundle for a ReportAnalysis; FhirInvalid if it does not validate."""
    report = analysis.get("report") or {}
    date = report.get("date")
    category = str(analysis.get("category") or report.get("category") or "general")
    title = str(analysis.get("title") or report.get("title") or "Report")
    signals = [s for s in analysis.get("signals") or [] if isinstance(s, dict)]
    seed = _id(title, date, *((s.get("signal"), s.get("value")) for s in signals))
    entries: list[dict[str, Any]] = []
    results = []
    for index, signal in enumerate(signals):
        full_url = f"urn:uuid:{_id(seed, index)}"
        entries.append({"fullUrl": full_url, "resource": _observation(signal, date=date)})
        results.append({"reference": full_url})
    report_code: dict[str, Any] = {"text": title}
    if category in _REPORT_CODES:
        code, display = _REPORT_CODES[category]
        report_code["coding"] = [{"system": LOINC, "code": code, "display": display}]
    diagnostic: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "status": "preliminary",
        "code": report_code,
        "conclusion": str(analysis.get("summary") or report.get("summary") or "")[:5000] or None,
    }
    if category == "laboratory":
        diagnostic["category"] = [
            {"coding": [{"system": DIAGNOSTIC_SERVICE, "code": "LAB", "display": "Laboratory"}]}
        ]
    if date:
        diagnostic["effectiveDateTime"] = date
    if results:
        diagnostic["result"] = results
    diagnostic = {k: v for k, v in diagnostic.items() if v is not None}
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": f"urn:uuid:{_id(seed, 'report')}", "resource": diagnostic}, *entries],
    }
    return validate_bundle(bundle)


def validate_bundle(bundle: dict[str, Any]) -> dict[str, Any]:
    """The bundle as the R4B models serialise it; FhirInvalid when a model rejects it."""
    try:
        model = Bundle.model_validate(bundle)
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        raise FhirInvalid() from exc
    result: dict[str, Any] = model.model_dump(mode="json", exclude_none=True)
    return result
