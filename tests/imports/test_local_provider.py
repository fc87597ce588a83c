"""The offline `local` provider on lab reports in English, Czech and German.

Each report goes in as plain text, as a text-layer PDF and as a photographed page (a data URL,
the client's format). A value counts only when LOINC, number, UCUM unit, both range bounds and
the flag are all right.
"""

from __future__ import annotations

import io
import time
from typing import Any

import pytest
from PIL import Image

from imports_app.local import OcrUnavailable, analyze_local, assess_local
from mediqom.errors import ApiError
from tests.imports.conftest import METRICS, data_url
from tests.imports.lab_reports import REPORTS, Report

LANGUAGES = sorted(REPORTS)
# Text and text-layer PDFs carry the characters exactly: nothing may be missed or invented.
# Photos go through OCR. Measured on these pages: en 14/14, cs 14/14, de 12/14 (Tesseract drops
# "/l" of "U/l" and misreads "mU/l"); over other noise seeds 13/14 to 14/14. The bar allows two
# misread rows in a 14-row page and still fails a broken OCR, deskew or unit-repair stage.
THRESHOLDS = {"text": 1.0, "markdown": 1.0, "pdf": 1.0, "photo": 0.85}


def observed(analysis: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            s["loinc"],
            float(s["value"]),
            s["ucum"],
            s["referenceRange"]["low"],
            s["referenceRange"]["high"],
            s["flag"],
        )
        for s in analysis["signals"]
    ]


def score(report: Report, analysis: dict[str, Any]) -> tuple[float, float]:
    got = observed(analysis)
    expected = report.expected()
    hits = sum(1 for item in got if item in expected)
    precision = hits / len(got) if got else 0.0
    return precision, hits / len(expected)


def document_text(assessment: dict[str, Any]) -> str:
    return "\n".join(page["text"] for page in assessment["pages"])


def analysed(
    kind: str, language: str, pdfs: dict[str, bytes], photos: dict[str, bytes]
) -> dict[str, Any]:
    report = REPORTS[language]
    if kind == "text":
        return analyze_local(text=report.text(), language=language)
    if kind == "markdown":
        return analyze_local(text=report.markdown(), language=language)
    pages: list[bytes | str] = [pdfs[language]] if kind == "pdf" else [data_url(photos[language])]
    assessment = assess_local(pages=pages, language=language)
    return analyze_local(text=document_text(assessment), language=language)


@pytest.mark.parametrize("kind", ["text", "markdown", "pdf", "photo"])
@pytest.mark.parametrize("language", LANGUAGES)
def test_it_extracts_every_lab_value_with_unit_range_and_flag(
    language: str, kind: str, report_pdfs: dict[str, bytes], report_photos: dict[str, bytes]
) -> None:
    analysis = analysed(kind, language, report_pdfs, report_photos)
    precision, recall = score(REPORTS[language], analysis)
    METRICS[(language, kind)] = (precision, recall, len(REPORTS[language].rows))
    print(f"{language} {kind}: precision {precision:.3f} recall {recall:.3f}")
    assert precision >= THRESHOLDS[kind]
    assert recall >= THRESHOLDS[kind]


@pytest.mark.parametrize("language", LANGUAGES)
def test_it_keeps_the_source_page_and_line_of_every_value(
    language: str, report_pdfs: dict[str, bytes]
) -> None:
    assessment = assess_local(pages=[REPORTS[language].text(), report_pdfs[language]])
    text = "\n".join(f"--- PAGE {p['page']} ---\n{p['text']}" for p in assessment["pages"])
    analysis = analyze_local(text=text, language=language)
    rows = len(REPORTS[language].rows)
    assert [s["evidence"]["page"] for s in analysis["signals"]] == [1] * rows + [2] * rows
    for signal in analysis["signals"]:
        page_text = assessment["pages"][signal["evidence"]["page"] - 1]["text"]
        assert signal["evidence"]["text"] in " ".join(page_text.split()).replace("\u2013", "-")
        assert signal["valueText"] in signal["evidence"]["text"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_assessment_has_the_contract_shape(
    language: str, report_pdfs: dict[str, bytes]
) -> None:
    assessment = assess_local(pages=[report_pdfs[language]])
    assert set(assessment) >= {"pages", "documents", "tokenUsage"}
    assert assessment["provider"] == "local"
    assert "no AI" in assessment["note"]
    [page] = assessment["pages"]
    assert set(page) >= {"page", "text", "language", "images"}
    assert page["page"] == 1
    assert page["images"] == []
    assert page["method"] == "pdf-text-layer"
    assert page["language"] == language
    [document] = assessment["documents"]
    assert document == {
        "title": REPORTS[language].heading,
        "date": REPORTS[language].date,
        "language": language,
        "isMedical": True,
        "isMedicalImaging": False,
        "pages": [1],
    }
    assert assessment["tokenUsage"] == {"total": 0}


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_analysis_is_a_labelled_report_analysis(language: str) -> None:
    analysis = analyze_local(text=REPORTS[language].text(), language=language)
    assert analysis["provider"] == "local"
    assert "no AI" in analysis["note"]
    assert analysis["type"] == "report"
    assert analysis["fhirType"] == "DiagnosticReport"
    assert analysis["category"] == "laboratory"
    assert analysis["isMedical"] is True
    assert analysis["hasLabOrVitals"] is True
    assert analysis["report"]["signals"] == analysis["signals"]
    assert analysis["report"]["date"] == REPORTS[language].date
    assert analysis["title"] == REPORTS[language].heading
    assert analysis["fhir"]["resourceType"] == "Bundle"
    abnormal = [s for s in analysis["signals"] if s["flag"] != "N"]
    assert all(s["urgency"] == 3 for s in abnormal)
    assert str(len(abnormal)) in analysis["summary"]
    assert "laboratory" in analysis["tags"]
    for signal in analysis["signals"]:
        assert {
            "signal",
            "value",
            "valueType",
            "unit",
            "reference",
            "urgency",
            "date",
            "labCategory",
            "source",
        } <= set(signal)
        assert signal["date"] == REPORTS[language].date


# The client's labCategory enum (its signals schema); signal keys are its lab.properties keys.
LAB_CATEGORIES = {
    "hematology", "chemistry", "immunology", "microbiology", "molecular",
    "toxicology", "endocrinology", "cardiology", "oncology", "genetics",
}  # fmt: skip


def test_signals_use_the_clients_field_formats() -> None:
    signals = analyze_local(text=REPORTS["de"].text(), language="de")["signals"]
    by_key = {s["signal"]: s for s in signals}
    assert {"white_blood_cells", "hdl_cholesterol", "creatinine", "uric_acid", "tsh"} <= set(by_key)
    wbc = by_key["white_blood_cells"]
    assert (wbc["value"], wbc["valueText"], wbc["reference"], wbc["unit"]) == (
        "3.2",
        "3,2",
        "4.0 - 10.0",
        "Tsd/µl",
    )
    assert by_key["hdl_cholesterol"]["reference"] == "> 40"
    assert by_key["crp"]["reference"] == "< 0.5"
    for signal in signals:
        assert isinstance(signal["value"], str)
        assert "," not in signal["value"]
        assert signal["valueType"] == "number"
        assert signal["labCategory"] in LAB_CATEGORIES
        assert signal["source"] == "blood"  # the client's specimen enum
        assert signal["loinc"] in signal["searchTerms"]


def test_it_is_deterministic() -> None:
    text = REPORTS["cs"].text()
    assert analyze_local(text=text, language="cs") == analyze_local(text=text, language="cs")


def test_a_scanned_pdf_without_text_layer_is_read_by_ocr(report_photos: dict[str, bytes]) -> None:
    out = io.BytesIO()
    Image.open(io.BytesIO(report_photos["de"])).save(out, "PDF", resolution=175)
    assessment = assess_local(pages=[out.getvalue()], language="de")
    assert assessment["pages"][0]["method"] == "ocr"
    analysis = analyze_local(text=document_text(assessment), language="de")
    precision, recall = score(REPORTS["de"], analysis)
    assert precision >= THRESHOLDS["photo"]
    assert recall >= THRESHOLDS["photo"]


def test_a_test_missing_from_the_table_still_needs_unit_and_range() -> None:
    analysis = analyze_local(
        text="Vitamin D 18 ng/ml 30 - 100\nNotes 12 mmol/l\nPage 1 of 2\nDate of birth: 12.03.1975",
        language="en",
    )
    [signal] = analysis["signals"]
    assert (signal["signal"], signal["value"], signal["ucum"], signal["flag"]) == (
        "vitamin_d",
        "18",
        "ng/mL",
        "L",
    )
    assert signal["loinc"] is None


def test_flags_from_the_report_win_over_the_range() -> None:
    [signal] = analyze_local(text="Glucose 5.0 H mmol/L 3.9 - 5.6", language="en")["signals"]
    assert (signal["flag"], signal["flagSource"]) == ("H", "report")
    [signal] = analyze_local(text="Glucose 5.0 mmol/L 3.9 - 5.6", language="en")["signals"]
    assert (signal["flag"], signal["flagSource"]) == ("N", "range")


def test_a_non_lab_document_has_no_signals() -> None:
    text = (
        "Radiology report\nPatient: Jane Roe\n"
        "Examination: X-ray of the chest, PA view, 05.06.2024\n"
        "Findings: no focal consolidation. Heart size normal.\nConclusion: normal chest radiograph."
    )
    assessment = assess_local(pages=[text])
    assert assessment["documents"][0]["isMedicalImaging"] is True
    analysis = analyze_local(text=text, language=None)
    assert analysis["signals"] == []
    assert analysis["hasLabOrVitals"] is False
    assert analysis["category"] == "imaging"
    assert analysis["report"]["date"] == "2024-06-05"


def test_a_missing_tesseract_is_a_clear_error_not_a_hang(
    no_tesseract: None, report_photos: dict[str, bytes]
) -> None:
    started = time.monotonic()
    with pytest.raises(OcrUnavailable) as caught:
        assess_local(pages=[data_url(report_photos["en"])])
    assert caught.value.code == "ocr_unavailable"
    assert caught.value.status == 503
    assert time.monotonic() - started < 5


def test_a_non_medical_text_is_not_medical_and_gets_no_bundle() -> None:
    text = "Grocery list\nBread 2 pcs\nMilk 1 l\nApples 1,5 kg\nTotal 12,40 EUR"
    assessment = assess_local(pages=[text])
    assert assessment["documents"][0]["isMedical"] is False
    analysis = analyze_local(text=text, language="en")
    assert analysis["isMedical"] is False
    assert analysis["signals"] == []
    assert analysis["fhir"] == {}


def test_a_pdf_past_the_page_cap_is_refused_not_read() -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(501):
        writer.add_blank_page(width=100, height=100)
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(ApiError) as caught:
        assess_local(pages=[out.getvalue()])
    assert (caught.value.code, caught.value.status) == ("too_many_pages", 413)


@pytest.mark.parametrize(
    ("language", "words"),
    [("cs", "mimo referenční meze"), ("Czech", "mimo referenční meze"), ("de", "Referenzbereichs"),
     ("English", "outside the reference range"), (None, "mimo referenční meze")],
)  # fmt: skip
def test_the_summary_is_in_the_requested_language(language: str | None, words: str) -> None:
    analysis = analyze_local(text=REPORTS["cs"].text(), language=language)
    assert words in analysis["summary"]
    assert analysis["report"]["summary"] == analysis["summary"]
