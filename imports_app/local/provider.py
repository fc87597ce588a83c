"""The local provider's entry points: `assess_local` (§7.2) and `analyze_local` (§7.5)."""

from __future__ import annotations

import re
from typing import Any

from imports_app.local import describe
from imports_app.local.labs import LabValue, extract_lab_values
from imports_app.local.text import PageText, decode_data_url, ocr_image, open_image, pdf_pages

PROVIDER = "local"
PROVIDER_NOTE = (
    "Deterministic offline extraction (PDF text layer, Tesseract OCR, curated rules and tables); "
    "no AI model was used."
)
_PAGE_MARKER = re.compile(r"^-{3}\s*PAGE\s+(\d+)\s*-{3}\s*$", re.MULTILINE)


def _page_texts(pages: list[bytes | str], language: str | None) -> list[PageText]:
    out: list[PageText] = []
    for item in pages:
        number = len(out) + 1
        if isinstance(item, str) and not item.startswith("data:"):
            out.append(PageText(page=number, text=item, method="text"))
            continue
        data = decode_data_url(item) if isinstance(item, str) else item
        if data.startswith(b"%PDF-"):
            out.extend(pdf_pages(data, language=language, first_page=number))
        else:
            text = ocr_image(open_image(data), language=language)
            out.append(PageText(page=number, text=text, method="ocr"))
    return out


def assess_local(*, pages: list[bytes | str], language: str | None = None) -> dict[str, Any]:
    """The contract's `Assessment` for page images (data URLs or bytes), PDFs or plain text.

    The local provider does not split documents: all pages form one document.
    """
    code = describe.iso_language(language)
    texts = _page_texts(pages, code)
    full = "\n".join(p.text for p in texts)
    doc_language = describe.detect_language(full) or code
    labs = extract_lab_values([(p.page, p.text) for p in texts])
    category = describe.category(full, lab_values=len(labs))
    return {
        "provider": PROVIDER,
        "note": PROVIDER_NOTE,
        "pages": [
            {
                "page": p.page,
                "text": p.text,
                "language": doc_language,
                "images": [],
                "method": p.method,
            }
            for p in texts
        ],
        "documents": [
            {
                "title": describe.title(full),
                "date": describe.document_date(full),
                "language": doc_language,
                "isMedical": describe.is_medical(full, lab_values=len(labs)),
                "isMedicalImaging": category == "imaging",
                "pages": [p.page for p in texts],
            }
        ]
        if texts
        else [],
        "tokenUsage": {"total": 0},
    }


def split_pages(text: str) -> list[tuple[int, str]]:
    """'--- PAGE n ---' markers (the assessment pass's format) → (n, text); else one page."""
    markers = list(_PAGE_MARKER.finditer(text))
    if not markers:
        return [(1, text)]
    parts = []
    for index, marker in enumerate(markers):
        end = markers[index + 1].start() if index + 1 < len(markers) else len(text)
        parts.append((int(marker.group(1)), text[marker.end() : end]))
    return parts


_SUMMARY = {
    "en": (
        "{title}: {n} lab values, {m} outside the reference range.",
        "No lab values were recognised.",
    ),
    "cs": (
        "{title}: laboratorní hodnoty {n}, mimo referenční meze {m}.",
        "Nebyly rozpoznány žádné laboratorní hodnoty.",
    ),
    "de": (
        "{title}: {n} Laborwerte, {m} außerhalb des Referenzbereichs.",
        "Es wurden keine Laborwerte erkannt.",
    ),
}


def _summary(title: str, labs: list[LabValue], language: str | None) -> str:
    """A short rule-based summary in the requested language (English when none or unknown)."""
    counted, empty = _SUMMARY.get(language or "en", _SUMMARY["en"])
    if not labs:
        return f"{title}. {empty}"
    abnormal = [v for v in labs if v.flag in {"H", "L", "HH", "LL", "A"}]
    lines = [counted.format(title=title, n=len(labs), m=len(abnormal))]
    lines += [
        f"- {v.analyte.display if v.analyte else v.name}: {v.value_text} {v.unit or ''} ({v.flag})"
        for v in abnormal
    ]
    return "\n".join(lines)


def analyze_local(*, text: str, language: str | None = None) -> dict[str, Any]:
    """A `ReportAnalysis` (§7.5) for one document's text, with an R4 Bundle in `fhir`."""
    from imports_app.fhir import build_bundle  # the FHIR builder reads this dict's shape

    pages = split_pages(text)
    labs = extract_lab_values(pages)
    plain = "\n".join(page_text for _, page_text in pages)
    doc_language = describe.detect_language(plain) or describe.iso_language(language)
    date = describe.document_date(plain)
    category = describe.category(plain, lab_values=len(labs))
    medical = describe.is_medical(plain, lab_values=len(labs))
    title = describe.title(plain)
    signals = [v.as_signal(date=date) for v in labs]
    confidence = 0.8 * (1.0 if signals else 0.9) * (1.0 if medical else 0.5)
    summary = _summary(title, labs, describe.iso_language(language) or doc_language)
    report: dict[str, Any] = {
        "category": category,
        "title": title,
        "summary": summary,
        "content": plain,
        "localizedContent": plain,
        "recommendations": [],
        "date": date or "",
        "isMedical": medical,
        "confidence": confidence,
        "signals": signals,
    }
    tags = sorted({category} | {s["labCategory"] for s in signals if s.get("labCategory")})
    analysis: dict[str, Any] = {
        "provider": PROVIDER,
        "note": PROVIDER_NOTE,
        "type": "report",
        "fhirType": "DiagnosticReport",
        "fhir": {},
        "category": category,
        "isMedical": medical,
        "tags": tags,
        "hasPrescription": False,
        "hasImmunization": False,
        "hasLabOrVitals": bool(signals),
        "content": plain,
        "report": report,
        "text": plain,
        "tokenUsage": {"total": 0},
        "results": [],
        "recommendations": [],
        "title": title,
        "summary": summary,
        "signals": signals,
        "language": doc_language,
        "documentType": category,
        "schemaUsed": "local",
        "confidence": confidence,
        "processingComplexity": "low",
        "enhancedFields": {},
    }
    if medical:
        analysis["fhir"] = build_bundle(analysis)
    return analysis
