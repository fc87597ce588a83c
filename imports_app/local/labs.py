"""Lab values from report text, one line at a time: name, value, unit, reference range, flag.

Deterministic and conservative: a line is a lab value only when it starts with a test name from
the curated table (or, for tests the table does not know, a name followed by a known unit AND a
reference range). Every value keeps the page and the line it was read from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from imports_app.local.catalog import Analyte, Unit, lookup_unit, names_longest_first, ocr_fold

NUMBER = r"\d+(?:[.,]\d+)?"
_DASHES = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2014": "-", "\u2012": "-"})
# Specimen prefixes Czech/German reports put before a test name: "S-Kreatinin", "B-Hemoglobin".
_SPECIMEN = re.compile(r"^(?:s|b|p|u|sp|fs|vb)\s*[-_]\s*", re.IGNORECASE)
# The same prefix after OCR lost its "_" or "-": "B Leukocyty", tried for tabled names only.
_SPECIMEN_SPACED = re.compile(r"^(?:s|b|p|u|sp|fs|vb)\s+", re.IGNORECASE)
_VALUE = re.compile(rf"^[\s:;=]*(?P<cmp>[<>≤≥])?\s*(?P<value>{NUMBER})(?![\d.,]*\d)")
# Markdown table cell borders ("| Hemoglobin | 128 | g/L |"), as an AI OCR pass writes tables.
_CELL_BORDER = re.compile(r"(?<=\s)\|(?=\s|$)")
# A flag glued to the value: "6,8H", "412*", "3,3↓".
_GLUED_FLAG = re.compile(r"^(?P<flag>HH|LL|H|L|\*|!|↑↑|↓↓|↑|↓|\+)(?=\s|$)")
_PAREN_NOTE = re.compile(r"^\s*\([^)\d]*\)")
_RANGE_BETWEEN = re.compile(rf"[(\[]?\s*(?P<low>{NUMBER})\s*-\s*(?P<high>{NUMBER})\s*[)\]]?")
_RANGE_LIMIT = re.compile(
    rf"[(\[]?\s*(?P<op><=|>=|[<>≤≥]|bis|do|unter|pod|up to|under|below|above|nad|über|uber)"
    rf"\s*(?P<limit>{NUMBER})\s*[)\]]?",
    re.IGNORECASE,
)
_FLAGS = {
    "H": "H",
    "HH": "HH",
    "L": "L",
    "LL": "LL",
    "↑": "H",
    "↑↑": "HH",
    "↓": "L",
    "↓↓": "LL",
    "+": "H",
    "++": "HH",
    "*": "A",
    "!": "A",
    "A": "A",
    "HIGH": "H",
    "LOW": "L",
    "HOCH": "H",
    "NIEDRIG": "L",
    "N": "N",
}
_GENERIC_NAME = re.compile(
    r"^(?P<name>[^\W\d_][\w .,'/()+-]*?[^\W\d_)]\)?)\s*[:=]?\s+(?=[<>≤≥]?\s*\d)"
)


@dataclass
class LabValue:
    name: str
    value: float
    value_text: str
    unit: str | None
    ucum: str | None
    unit_kind: str | None
    low: float | None
    high: float | None
    reference: str | None
    flag: str | None
    flag_source: str | None
    comparator: str | None
    page: int
    line: str
    analyte: Analyte | None = None
    loinc: tuple[str, str] | None = field(default=None)

    def as_signal(self, *, date: str | None) -> dict[str, Any]:
        """The client's `core.signals` item (signal key, value as a dot-decimal string, reference
        "low - high", specimen in `source`), plus what FHIR needs (loinc, ucum, range, flag) and
        `evidence`: the page and the line the value was read from."""
        abnormal = self.flag in {"H", "L", "HH", "LL", "A"}
        critical = self.flag in {"HH", "LL"}
        vital = self.analyte is not None and self.analyte.category == "vital-signs"
        signal = {
            "signal": self.analyte.key if self.analyte else _snake(self.name),
            "name": self.name,
            "display": self.analyte.display if self.analyte else self.name,
            "value": self.value_text.replace(",", "."),
            "valueText": self.value_text,
            "valueType": "number",
            "comparator": self.comparator,
            "unit": self.unit or "",
            "ucum": self.ucum,
            "reference": self.reference or "",
            "referenceRange": {"low": self.low, "high": self.high},
            "flag": self.flag,
            "flagSource": self.flag_source,
            "urgency": 4 if critical else 3 if abnormal else 1,
            "date": date or "",
            "labCategory": self.analyte.category if self.analyte else None,
            "loinc": self.loinc[0] if self.loinc else None,
            "loincDisplay": self.loinc[1] if self.loinc else None,
            "searchTerms": self._search_terms(),
            "source": "blood" if self.analyte else "",
            "evidence": {"page": self.page, "text": self.line},
            "observationCategory": "vital-signs" if vital else "laboratory",
        }
        if vital:
            del signal["labCategory"]  # the client's labCategory enum has no vital signs
        return signal

    def _search_terms(self) -> list[str]:
        if self.analyte is None:
            return [self.name.lower()]
        return [*(self.loinc[:1] if self.loinc else ()), *self.analyte.all_names()]


def _snake(name: str) -> str:
    return "_".join(re.findall(r"[^\W_]+", name.lower()))


def _dots(text: str) -> str:
    return text.replace(",", ".")


def to_float(text: str) -> float:
    return float(text.replace(",", "."))


def _fold_with_offsets(text: str) -> tuple[str, list[int]]:
    """ocr_fold(text) and, for each folded character, the index of the character it came from."""
    chars: list[str] = []
    origin: list[int] = []
    for index, ch in enumerate(text):
        for folded in ocr_fold(ch):
            chars.append(folded)
            origin.append(index)
    return "".join(chars), origin


def _match_known(body: str) -> tuple[Analyte, str, str] | None:
    folded, origin = _fold_with_offsets(body)
    for name, analyte in names_longest_first():
        if folded.startswith(name) and (
            len(folded) == len(name) or not folded[len(name)].isalnum()
        ):
            end = origin[len(name) - 1] + 1
            return analyte, body[:end].strip(), body[end:]
    return None


def _match_name(line: str) -> tuple[Analyte | None, str, str] | None:
    """(analyte or None, the name as written, the rest of the line) for a line naming a test."""
    body = _SPECIMEN.sub("", line, count=1)
    for candidate in (body, _SPECIMEN_SPACED.sub("", body, count=1)):
        known = _match_known(candidate)
        if known is not None:
            return known
    generic = _GENERIC_NAME.match(body)
    if generic:
        return None, generic.group("name").strip(), body[generic.end("name") :]
    return None


def _take_unit(tokens: list[str]) -> tuple[Unit | None, str | None, list[str]]:
    for width in (3, 2, 1):
        for start in range(len(tokens) - width + 1):
            text = " ".join(tokens[start : start + width])
            unit = lookup_unit(text)
            if unit is not None:
                return unit, text, tokens[:start] + tokens[start + width :]
    return None, None, tokens


def _take_range(text: str) -> tuple[float | None, float | None, str | None, str]:
    between = _RANGE_BETWEEN.search(text)
    if between:
        low, high = to_float(between.group("low")), to_float(between.group("high"))
        if low <= high:
            rest = text[: between.start()] + " " + text[between.end() :]
            return (
                low,
                high,
                f"{_dots(between.group('low'))} - {_dots(between.group('high'))}",
                rest,
            )
    limit = _RANGE_LIMIT.search(text)
    if limit:
        op = limit.group("op").lower()
        bound = to_float(limit.group("limit"))
        rest = text[: limit.start()] + " " + text[limit.end() :]
        if op in {"<", "<=", "≤", "bis", "do", "unter", "pod", "up to", "under", "below"}:
            return None, bound, f"< {_dots(limit.group('limit'))}", rest
        return bound, None, f"> {_dots(limit.group('limit'))}", rest
    return None, None, None, text


def parse_line(raw: str, *, page: int) -> LabValue | None:
    text = raw.translate(_DASHES)
    text = text.replace("|", " ") if text.lstrip().startswith("|") else _CELL_BORDER.sub(" ", text)
    line = " ".join(text.split())
    if not line or len(line) > 200:
        return None
    named = _match_name(line)
    if named is None:
        return None
    analyte, name, rest = named
    rest = _PAREN_NOTE.sub("", rest, count=1)
    value_match = _VALUE.match(rest)
    if value_match is None:
        return None
    after = rest[value_match.end() :]
    glued = _GLUED_FLAG.match(after)
    if glued:
        after = f" {glued.group('flag')} {after[glued.end() :]}"
    unit, unit_text, tokens = _take_unit(after.split())
    low, high, reference, remainder = _take_range(" ".join(tokens))
    flags = [_FLAGS[t.upper()] for t in remainder.split() if t.upper() in _FLAGS]
    leftovers = [t for t in remainder.split() if t.upper() not in _FLAGS]
    if analyte is None and (unit is None or reference is None or leftovers):
        return None  # an unknown name needs the full shape of a lab row to count
    if unit is None and reference is None:
        return None
    # OCR reads "µ" as "p": "pmol" is a misread unless the test is reported in pico units.
    picomolar = unit is not None and unit.ucum.startswith("pmol/")
    if picomolar and unit_text and analyte is not None and not analyte.pico:
        unit = lookup_unit("u" + unit_text[1:]) or unit
    value = to_float(value_match.group("value"))
    flag, flag_source = (flags[0], "report") if flags else _flag_from_range(value, low, high)
    if flag == "A":  # "*" or "!" only says "abnormal"; the range tells which way
        derived, _ = _flag_from_range(value, low, high)
        if derived in {"H", "L"}:
            flag = derived
    return LabValue(
        name=name,
        value=value,
        value_text=value_match.group("value"),
        unit=unit_text,
        ucum=unit.ucum if unit else None,
        unit_kind=unit.kind if unit else None,
        low=low,
        high=high,
        reference=reference,
        flag=flag,
        flag_source=flag_source,
        comparator=value_match.group("cmp"),
        page=page,
        line=line,
        analyte=analyte,
        loinc=analyte.loinc(unit.kind if unit else None) if analyte else None,
    )


def _flag_from_range(
    value: float, low: float | None, high: float | None
) -> tuple[str | None, str | None]:
    if low is None and high is None:
        return None, None
    if high is not None and value > high:
        return "H", "range"
    if low is not None and value < low:
        return "L", "range"
    return "N", "range"


def extract_lab_values(pages: list[tuple[int, str]]) -> list[LabValue]:
    """Every lab value and vital sign in (page number, page text) pairs, in reading order."""
    from imports_app.local.vitals import parse_vitals  # vitals builds on LabValue

    found: list[LabValue] = []
    for page, text in pages:
        for raw in text.splitlines():
            value = parse_line(raw, page=page)
            if value is not None:
                found.append(value)
            else:
                found.extend(parse_vitals(raw, page=page))
    return found
