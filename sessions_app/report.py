"""The consultation report as a PDF (WeasyPrint, templates/sessions/report.html): A4, paginated,
labelled in the session's language."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from sessions_app.languages import Language

LABELS: dict[Language, dict[str, str]] = {
    "en": {
        "title": "Consultation report", "patient": "Patient", "clinician": "Clinician",
        "date": "Date", "complaint": "Chief complaint", "symptoms": "Symptoms",
        "findings": "Findings", "diagnoses": "Diagnoses", "code": "ICD-10",
        "probability": "Probability", "diagnosis": "Diagnosis", "treatment": "Treatment",
        "medication": "Medication", "follow_up": "Follow-up", "recommendations": "Recommendations",
        "questions": "Questions to clarify", "page": "Page", "of": "of", "none": "None recorded",
        "duration": "duration", "severity": "severity", "dosage": "dose", "urgency": "urgency",
        "generated": "Generated", "local": "Analysis by the offline rule-based provider (no AI).",
        "suggestion": "suggestion", "doctor": "clinician",
    },
    "cs": {
        "title": "Zpráva z konzultace", "patient": "Pacient", "clinician": "Lékař",
        "date": "Datum", "complaint": "Hlavní obtíž", "symptoms": "Příznaky",
        "findings": "Nález", "diagnoses": "Diagnózy", "code": "MKN-10",
        "probability": "Pravděpodobnost", "diagnosis": "Diagnóza", "treatment": "Léčba",
        "medication": "Medikace", "follow_up": "Další postup", "recommendations": "Doporučení",
        "questions": "Otázky k upřesnění", "page": "Strana", "of": "z", "none": "Nezaznamenáno",
        "duration": "trvání", "severity": "závažnost", "dosage": "dávka", "urgency": "naléhavost",
        "generated": "Vytvořeno", "local": "Analýza offline podle pravidel (bez AI).",
        "suggestion": "návrh", "doctor": "lékař",
    },
    "de": {
        "title": "Konsultationsbericht", "patient": "Patient", "clinician": "Arzt/Ärztin",
        "date": "Datum", "complaint": "Hauptbeschwerde", "symptoms": "Symptome",
        "findings": "Befund", "diagnoses": "Diagnosen", "code": "ICD-10",
        "probability": "Wahrscheinlichkeit", "diagnosis": "Diagnose", "treatment": "Behandlung",
        "medication": "Medikation", "follow_up": "Weiteres Vorgehen",
        "recommendations": "Empfehlungen", "questions": "Offene Fragen", "page": "Seite",
        "of": "von", "none": "Nicht erfasst", "duration": "Dauer", "severity": "Schweregrad",
        "dosage": "Dosis", "urgency": "Dringlichkeit", "generated": "Erstellt",
        "local": "Analyse durch den regelbasierten Offline-Anbieter (ohne KI).",
        "suggestion": "Vorschlag", "doctor": "Arzt",
    },
}  # fmt: skip

VALUES: dict[Language, dict[str, str]] = {
    "en": {"urgency_immediate": "immediate", "urgency_within_week": "within a week",
           "urgency_within_month": "within a month", "urgency_routine": "routine"},
    "cs": {"hours": "hodiny", "days": "dny", "weeks": "týdny", "months": "měsíce", "years": "roky",
           "mild": "mírná", "moderate": "střední", "severe": "těžká",
           "urgency_immediate": "ihned", "urgency_within_week": "do týdne",
           "urgency_within_month": "do měsíce", "urgency_routine": "běžně"},
    "de": {"hours": "Stunden", "days": "Tage", "weeks": "Wochen", "months": "Monate",
           "years": "Jahre", "mild": "leicht", "moderate": "mittel", "severe": "schwer",
           "urgency_immediate": "sofort", "urgency_within_week": "innerhalb einer Woche",
           "urgency_within_month": "innerhalb eines Monats", "urgency_routine": "routinemäßig"},
}  # fmt: skip

_BOLD = re.compile(r"\*\*(.+?)\*\*")


def markdown_html(text: object) -> SafeString:
    """A small, safe subset of Markdown (paragraphs, `-`/`*` lists, headings, bold): the
    finalize report's strings. Everything is escaped first."""
    if not isinstance(text, str) or not text.strip():
        return mark_safe("")
    out: list[str] = []
    in_list = False
    for raw in text.splitlines():
        line = raw.strip()
        item = re.match(r"^[-*•]\s+(.*)$", line) or re.match(r"^\d+[.)]\s+(.*)$", line)
        if item:
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{_inline(item.group(1))}</li>")
            continue
        if in_list:
            out.append("</ul>")
            in_list = False
        if not line:
            continue
        heading = re.match(r"^#{1,6}\s+(.*)$", line)
        if heading:
            out.append(f"<h3>{_inline(heading.group(1))}</h3>")
        else:
            out.append(f"<p>{_inline(line)}</p>")
    if in_list:
        out.append("</ul>")
    return mark_safe("\n".join(out))  # noqa: S308 - every piece is escaped in _inline


def _inline(text: str) -> str:
    return _BOLD.sub(r"<strong>\1</strong>", html.escape(text))


@dataclass
class ReportData:
    """Everything the PDF shows; lists are in the §4.7 shapes."""

    language: Language
    date: datetime
    patient: str = ""
    clinician: str = ""
    complaint: str = ""
    symptoms: list[dict[str, Any]] = field(default_factory=list)
    diagnoses: list[dict[str, Any]] = field(default_factory=list)
    treatment: list[dict[str, Any]] = field(default_factory=list)
    medication: list[dict[str, Any]] = field(default_factory=list)
    follow_up: list[dict[str, Any]] = field(default_factory=list)
    questions: list[dict[str, Any]] = field(default_factory=list)
    narrative: dict[str, str] = field(default_factory=dict)  # the finalize report's sections
    local: bool = False


def _percent(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{round(float(value) * 100)} %"
    return ""


def render_report_html(data: ReportData) -> str:
    labels = LABELS[data.language]
    diagnoses = sorted(
        (d for d in data.diagnoses if isinstance(d, dict)),
        key=lambda d: -float(d.get("probability") or 0),
    )
    values = VALUES[data.language]

    def value(name: object, prefix: str = "") -> object:
        return values.get(f"{prefix}{name}", name) if isinstance(name, str) else name

    symptoms = [
        {**s, "duration": value(s.get("duration")), "severity": value(s.get("severity"))}
        for s in data.symptoms
        if isinstance(s, dict)
    ]
    follow_up = [
        {**f, "urgency": value(f.get("urgency"), "urgency_")}
        for f in data.follow_up
        if isinstance(f, dict)
    ]
    context = {
        "lang": data.language,
        "symptoms": symptoms,
        "follow_up": follow_up,
        "l": labels,
        "d": data,
        "date": data.date.strftime("%Y-%m-%d %H:%M UTC"),
        "diagnoses": [{**d, "percent": _percent(d.get("probability"))} for d in diagnoses],
        "narrative": {k: markdown_html(v) for k, v in data.narrative.items() if v},
    }
    return render_to_string("sessions/report.html", context)


def render_report_pdf(data: ReportData) -> bytes:
    """The report as PDF bytes."""
    from weasyprint import HTML

    pdf = HTML(string=render_report_html(data)).write_pdf()
    assert isinstance(pdf, bytes)
    return pdf
