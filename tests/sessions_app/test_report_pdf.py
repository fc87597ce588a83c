"""The PDF report: rendered by WeasyPrint, read back with pypdf, first page rasterised."""

from __future__ import annotations

import io
import subprocess
from datetime import UTC, datetime

import pytest
from PIL import Image
from pypdf import PdfReader

from sessions_app.local_analysis import Segment, analyze_diagnosis, analyze_transcript
from sessions_app.report import ReportData, markdown_html, render_report_pdf
from tests.sessions_app.fixtures import CHEST_PAIN_CS, CHEST_PAIN_EN


def report_for(lines: list[str], language: str, **extra) -> ReportData:
    segs = [Segment(id=str(i), text=t) for i, t in enumerate(lines)]
    diagnosis = analyze_diagnosis(segs, language=language)
    transcript = analyze_transcript(segs, language=language)
    return ReportData(
        language=language,
        date=datetime(2026, 12, 2, 13, 0, tzinfo=UTC),
        patient="Jan Novák",
        clinician="MUDr. Eva Dvořáková",
        complaint=transcript["complaint"],
        symptoms=transcript["symptoms"],
        diagnoses=diagnosis["diagnosis"],
        treatment=diagnosis["treatment"],
        medication=[{"name": "Ibuprofen", "dosage": 400, "days": "5-7 days"}],
        follow_up=diagnosis["followUp"],
        questions=diagnosis["clarifyingQuestions"],
        local=True,
        **extra,
    )


def pdf_text(pdf: bytes) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(pdf))
    return reader, "\n".join(page.extract_text() for page in reader.pages)


def test_it_renders_a_paginated_a4_report_with_everything(tmp_path):
    data = report_for(
        CHEST_PAIN_EN * 3,
        "en",
        narrative={"findings": "**Patient** reports chest pain.\n- sharp\n- 3 days"},
    )
    pdf = render_report_pdf(data)
    reader, text = pdf_text(pdf)
    width, height = (float(v) for v in reader.pages[0].mediabox.upper_right)
    assert (round(width), round(height)) == (595, 842)  # A4 in points
    assert len(reader.pages) >= 2
    flat = " ".join(text.split())
    for expected in (
        "Consultation report", "Jan Novák", "MUDr. Eva Dvořáková", "2026-12-02",
        "Chest pain", "Acute pericarditis", "I30.9", "80 %", "Pulmonary embolism", "I26.9",
        "Ibuprofen", "400 mg", "12-lead ECG", "Questions to clarify",
        "Does the pain ease when you sit up and lean forward?", "Page 1 of",
        "Patient reports chest pain.",
    ):  # fmt: skip
        assert expected in flat, expected
    # first page as PNG: a real image with content on it
    (tmp_path / "report.pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile",
         str(tmp_path / "report.pdf"), str(tmp_path / "page")],
        check=True,
    )  # fmt: skip
    image = Image.open(tmp_path / "page.png").convert("L")
    assert image.size[1] > image.size[0]  # portrait
    dark = sum(image.histogram()[:128])
    assert dark > 1000


@pytest.mark.parametrize(
    ("language", "labels"),
    [
        ("cs", ["Zpráva z konzultace", "Diagnózy", "MKN-10", "Akutní perikarditida", "Strana 1 z"]),
        ("de", ["Konsultationsbericht", "Diagnosen", "Behandlung", "Seite 1 von"]),
    ],
)
def test_it_labels_the_report_in_the_session_language(language, labels):
    _, text = pdf_text(render_report_pdf(report_for(CHEST_PAIN_CS, language)))
    flat = " ".join(text.split())
    for label in labels:
        assert label in flat, label


def test_report_markdown_is_escaped():
    html = markdown_html("<script>alert(1)</script>\n**bold**")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "<strong>bold</strong>" in html
