"""The local provider on lab reports laid out differently from the ones it was built on
(colons and "(ref. a-b)", Czech "B_"/"S_" prefixes with "*" flags, a German fixed-width table
with +/- flags and "/nl" units), as text, as a text-layer PDF and as a photographed page."""

from __future__ import annotations

import html
from typing import Any

import pytest
import weasyprint

from imports_app.local import analyze_local, assess_local
from tests.imports.conftest import METRICS, data_url, photograph
from tests.imports.heldout_reports import HELD_OUT, HeldOut

# Text and PDF carry the characters exactly. Photos: measured en 12/12, cs 11/12 (OCR glued
# "S_K 5,4" into "S K5,4"), de 12/13; the bar allows one or two OCR misreads per page.
THRESHOLDS = {"text": 1.0, "pdf": 1.0, "photo": 0.84}


def pdf(report: HeldOut) -> bytes:
    page = f"""<html><head><meta charset="utf-8"><style>
        @page {{ size: A4; margin: 16mm; }}
        pre {{ font-family: 'DejaVu Sans Mono', monospace; font-size: 10pt; }}
        </style></head><body><pre>{html.escape(report.text)}</pre></body></html>"""
    return weasyprint.HTML(string=page).write_pdf()


@pytest.fixture(scope="module")
def heldout_pdfs() -> dict[str, bytes]:
    return {language: pdf(report) for language, report in HELD_OUT.items()}


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


@pytest.mark.parametrize("kind", ["text", "pdf", "photo"])
@pytest.mark.parametrize("language", sorted(HELD_OUT))
def test_held_out_reports(language: str, kind: str, heldout_pdfs: dict[str, bytes]) -> None:
    report = HELD_OUT[language]
    if kind == "text":
        text = report.text
    else:
        page: bytes | str = heldout_pdfs[language]
        if kind == "photo":
            page = data_url(photograph(heldout_pdfs[language], seed=20 + len(language)))
        text = "\n".join(p["text"] for p in assess_local(pages=[page], language=language)["pages"])
    analysis = analyze_local(text=text, language=language)
    got = observed(analysis)
    hits = sum(1 for item in got if item in report.expected)
    precision = hits / len(got) if got else 0.0
    recall = hits / len(report.expected)
    METRICS[(language, f"held-out {kind}")] = (precision, recall, len(report.expected))
    assert precision >= THRESHOLDS[kind]
    assert recall >= THRESHOLDS[kind]
    assert analysis["language"] == language
