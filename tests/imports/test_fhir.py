"""FHIR R4 bundles from local-provider analyses, validated with the fhir.resources R4B models."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.observation import Observation

from imports_app.fhir import UCUM, FhirInvalid, build_bundle, is_ucum
from imports_app.local import analyze_local, assess_local
from imports_app.local.catalog import DATA_DIR, loinc_codes
from tests.imports.lab_reports import REPORTS

LANGUAGES = sorted(REPORTS)


def loinc_check_digit(number: str) -> int:
    """LOINC's mod-10 check digit (the algorithm LOINC publishes for its codes)."""
    reversed_digits = number[::-1]
    odd = int(reversed_digits[0::2][::-1]) * 2
    even = reversed_digits[1::2][::-1]
    total = sum(int(c) for c in f"{even}{odd}")
    return (10 - total % 10) % 10


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


@pytest.mark.parametrize("source", ["text", "pdf"])
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_lab_report_becomes_a_valid_r4_bundle(
    language: str, source: str, report_pdfs: dict[str, bytes]
) -> None:
    report = REPORTS[language]
    if source == "text":
        text = report.text()
    else:
        text = "\n".join(p["text"] for p in assess_local(pages=[report_pdfs[language]])["pages"])
    bundle = analyze_local(text=text, language=language)["fhir"]
    Bundle.model_validate(bundle)  # independently of build_bundle's own check
    assert bundle["type"] == "collection"
    [diagnostic] = resources(bundle, "DiagnosticReport")
    DiagnosticReport.model_validate(diagnostic)
    assert diagnostic["status"] == "preliminary"
    assert diagnostic["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "11502-2",
        "display": "Laboratory report",
    }
    assert diagnostic["category"][0]["coding"][0]["code"] == "LAB"
    assert diagnostic["effectiveDateTime"] == report.date
    observations = resources(bundle, "Observation")
    urls = {e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"}
    assert {r["reference"] for r in diagnostic["result"]} == urls
    assert len(observations) == len(report.rows)
    for observation, (loinc, value, ucum, low, high, flag) in zip(
        observations, report.expected(), strict=True
    ):
        Observation.model_validate(observation)
        assert observation["status"] == "preliminary"
        assert observation["code"]["coding"][0]["code"] == loinc
        quantity = observation["valueQuantity"]
        assert (quantity["value"], quantity["system"], quantity["code"]) == (value, UCUM, ucum)
        assert is_ucum(quantity["code"])
        reference = observation["referenceRange"][0]
        assert (reference.get("low", {}).get("value"), reference.get("high", {}).get("value")) == (
            low,
            high,
        )
        assert observation["interpretation"][0]["coding"][0]["code"] == flag
        assert observation["effectiveDateTime"] == report.date


def test_the_bundle_is_deterministic() -> None:
    text = REPORTS["de"].text()
    first = analyze_local(text=text, language="de")["fhir"]
    assert json.dumps(first, sort_keys=True) == json.dumps(
        analyze_local(text=text, language="de")["fhir"], sort_keys=True
    )


@pytest.mark.parametrize(
    "code",
    ["mmol/L", "10*9/L", "umol/L", "m[IU]/L", "mL/min/{1.73_m2}", "%", "fL", "{INR}", "ukat/L"],
)
def test_ucum_codes_are_accepted(code: str) -> None:
    assert is_ucum(code)


@pytest.mark.parametrize("code", ["", "xyz", "10^9/L", "mmol / L", "Tsd/µl", "mg/dl/", "IU/L"])
def test_non_ucum_strings_are_rejected(code: str) -> None:
    assert not is_ucum(code)


def test_every_unit_in_the_curated_table_is_ucum() -> None:
    table = json.loads((DATA_DIR / "lab_units.json").read_text(encoding="utf-8"))["units"]
    assert [code for code, _ in table.values() if not is_ucum(code)] == []


def test_every_curated_loinc_code_has_a_valid_check_digit() -> None:
    codes = loinc_codes()
    assert len(codes) >= 40
    for code in codes:
        number, check = code.split("-")
        assert loinc_check_digit(number) == int(check), code


def test_a_unit_that_is_not_ucum_keeps_its_text_but_gets_no_ucum_code() -> None:
    signal = {
        "name": "Widgetase",
        "value": 12.0,
        "unit": "zorks/l",
        "ucum": "zorks/l",
        "referenceRange": {"low": 5.0, "high": 10.0},
        "reference": "5-10",
        "flag": "H",
        "evidence": {"page": 1, "text": "Widgetase 12 zorks/l 5 - 10"},
    }
    bundle = build_bundle(
        {
            "title": "Lab",
            "category": "laboratory",
            "report": {"date": "2025-01-02"},
            "signals": [signal],
        }
    )
    [observation] = resources(bundle, "Observation")
    assert observation["valueQuantity"] == {"value": 12.0, "unit": "zorks/l"}
    assert "coding" not in observation["code"]
    assert observation["interpretation"][0]["coding"][0]["code"] == "H"


def test_a_loinc_code_outside_the_curated_table_is_not_emitted() -> None:
    signal = {
        "name": "Glucose",
        "value": 5.0,
        "unit": "mmol/L",
        "ucum": "mmol/L",
        "loinc": "99999-9",
    }
    bundle = build_bundle({"title": "Lab", "signals": [signal]})
    [observation] = resources(bundle, "Observation")
    assert "coding" not in observation["code"]


def test_an_analysis_that_cannot_be_valid_fhir_is_a_clear_error() -> None:
    signal = {"name": "Glucose", "value": 5.0, "unit": "mmol/L", "date": "yesterday-ish"}
    with pytest.raises(FhirInvalid) as caught:
        build_bundle({"title": "Lab", "signals": [signal]})
    assert (caught.value.code, caught.value.status) == ("fhir_invalid", 422)
