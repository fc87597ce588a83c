"""Rule-based facts about a document's text: language, dates, document type, title."""

from __future__ import annotations

import re
from datetime import date

from imports_app.local.catalog import fold

_STOPWORDS = {
    "en": {"the", "and", "of", "result", "results", "reference", "range", "date", "patient",
           "report", "test", "unit", "units", "laboratory", "with", "for", "is", "no", "name"},
    "cs": {"a", "je", "na", "se", "v", "ve", "z", "pro", "datum", "pacient", "pacienta",
           "výsledek", "výsledky", "zpráva", "odběr", "odběru", "jednotka", "vyšetření",
           "laboratorní", "jméno", "rodné", "číslo", "referenční", "meze", "bez"},
    "de": {"und", "der", "die", "das", "mit", "von", "für", "datum", "patient", "befund",
           "ergebnis", "einheit", "referenzbereich", "labor", "laborbefund", "name", "geboren",
           "untersuchung", "im", "nicht", "entnahme"},
}  # fmt: skip
_LETTERS = {"cs": set("ěščřžýůťďň"), "de": set("äöüß")}
LANGUAGE_NAMES = {"en": "English", "cs": "Czech", "de": "German"}

_MONTHS = {
    # English, Czech (nominative and genitive), German
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
    "leden": 1, "ledna": 1, "unor": 2, "unora": 2, "brezen": 3, "brezna": 3, "duben": 4,
    "dubna": 4, "kveten": 5, "kvetna": 5, "cerven": 6, "cervna": 6, "cervenec": 7,
    "cervence": 7, "srpen": 8, "srpna": 8, "zari": 9, "rijen": 10, "rijna": 10,
    "listopad": 11, "listopadu": 11, "prosinec": 12, "prosince": 12,
    "januar": 1, "februar": 2, "marz": 3, "mai": 5, "juni": 6, "juli": 7, "oktober": 10,
    "dezember": 12,
}  # fmt: skip
_NUMERIC_DATE = re.compile(r"(?<![\d.])(\d{1,2})\.\s?(\d{1,2})\.\s?(\d{4})(?!\d)")
_SLASH_DATE = re.compile(r"(?<!\d)(\d{1,2})/(\d{1,2})/(\d{4})(?!\d)")
_ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_WORD_DATE = re.compile(r"(?<!\d)(\d{1,2})\.?\s+([^\W\d_]+)\s+(\d{4})(?!\d)")
_BIRTH = re.compile(r"birth|born|\bdob\b|narozen|narození|geb\.|geboren|geburt", re.IGNORECASE)
_REPORT_DATE_HINT = re.compile(
    r"collect|sample|report|date|datum|odběr|vyšetř|entnahme|befund|eingang|received",
    re.IGNORECASE,
)

_KEYWORDS = {
    "laboratory": ["laboratory", "lab report", "blood count", "biochemistry", "laboratorní",
                   "krevní obraz", "biochemie", "laborbefund", "blutbild", "klinische chemie"],
    "imaging": ["x-ray", "radiograph", "computed tomography", "mri", "ultrasound", "sonograph",
                "rtg", "rentgen", "magnetická rezonance", "ultrazvuk", "usg", "röntgen",
                "computertomographie", "mrt", "sonographie", "ct "],
    "medication": ["prescription", "recept", "rezept", "medication", "medikace", "dosage"],
    "exam": ["discharge", "propouštěcí", "entlassung", "examination", "vyšetření", "anamnesis",
             "anamnéza", "anamnese", "diagnosis", "diagnóza", "diagnose"],
}  # fmt: skip
_MEDICAL = ["patient", "pacient", "diagnos", "mudr", "dr.", "hospital", "nemocnice",
            "klinik", "clinic", "laborator", "befund", "therapy", "terapie"]  # fmt: skip


_LANGUAGE_CODES = {"english": "en", "czech": "cs", "german": "de", "cs-cz": "cs", "de-de": "de"}


def iso_language(language: str | None) -> str | None:
    """'English'/'czech'/'cs' -> 'en'/'cs' (the AI layer passes language names, §8.9)."""
    if not language:
        return None
    lowered = language.strip().lower()
    return lowered if lowered in {"en", "cs", "de"} else _LANGUAGE_CODES.get(lowered)


def detect_language(text: str) -> str | None:
    """'en', 'cs' or 'de' by stopwords and letters; None when nothing points anywhere."""
    words = re.findall(r"[^\W\d_]+", text.lower())
    scores = {lang: sum(1 for w in words if w in stop) for lang, stop in _STOPWORDS.items()}
    for lang, letters in _LETTERS.items():
        scores[lang] += 2 * sum(1 for ch in text.lower() if ch in letters)
    best = max(scores, key=lambda lang: scores[lang])
    return best if scores[best] > 0 else None


def _valid(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day) if 1900 <= year <= 2100 else None
    except ValueError:
        return None


def dates_in(line: str) -> list[date]:
    found: list[date] = []
    for d, m, y in _NUMERIC_DATE.findall(line) + _SLASH_DATE.findall(line):
        if (value := _valid(int(y), int(m), int(d))) is not None:
            found.append(value)
    for y, m, d in _ISO_DATE.findall(line):
        if (value := _valid(int(y), int(m), int(d))) is not None:
            found.append(value)
    for d, month, y in _WORD_DATE.findall(line):
        number = _MONTHS.get(fold(month))
        if number and (value := _valid(int(y), number, int(d))) is not None:
            found.append(value)
    return found


def document_date(text: str) -> str | None:
    """The report's date (ISO): a date on a collection/report line first, never a birth date."""
    hinted: list[date] = []
    other: list[date] = []
    for line in text.splitlines():
        if _BIRTH.search(line):
            continue
        found = dates_in(line)
        (hinted if _REPORT_DATE_HINT.search(line) else other).extend(found)
    chosen = hinted or other
    return chosen[0].isoformat() if chosen else None


def category(text: str, *, lab_values: int) -> str:
    """The contract's report category (laboratory, imaging, medication, exam, general)."""
    if lab_values >= 2:
        return "laboratory"
    lowered = text.lower()
    hits = {cat: sum(lowered.count(k) for k in words) for cat, words in _KEYWORDS.items()}
    best = max(hits, key=lambda cat: hits[cat])
    return best if hits[best] > 0 else "general"


def is_medical(text: str, *, lab_values: int) -> bool:
    lowered = text.lower()
    return (
        lab_values > 0
        or any(k in lowered for k in _MEDICAL)
        or category(text, lab_values=0) != "general"
    )


def title(text: str) -> str:
    """The first line that reads like a heading (letters, no digits, 3 to 80 characters)."""
    for line in text.splitlines():
        clean = " ".join(line.split())
        if (
            3 <= len(clean) <= 80
            and not re.search(r"\d", clean)
            and re.search(r"[^\W\d_]{3}", clean)
        ):
            return clean
    return "Document"
