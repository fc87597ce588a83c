"""Curated tables of the local provider: lab tests (LOINC, names in 3 languages), units (UCUM)."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent.parent / "data"

_UNIT_CHARS = str.maketrans(
    {
        "µ": "u",
        "μ": "u",
        "\u00d7": "x",
        "⁹": "9",
        "¹": "1",
        "²": "2",
        "³": "3",
        "⁶": "6",
        "\u2212": "-",
        "\u2013": "-",
        "—": "-",
    }
)


def fold(text: str) -> str:
    """Lower-case, accents removed: 'Glukóza' -> 'glukoza', 'Hämoglobin' -> 'hamoglobin'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def unit_key(text: str) -> str:
    return text.translate(_UNIT_CHARS).casefold().replace(" ", "")


@dataclass(frozen=True)
class Unit:
    ucum: str
    kind: str


@dataclass(frozen=True)
class Analyte:
    key: str
    display: str
    category: str
    codes: dict[str, tuple[str, str]]
    names: dict[str, tuple[str, ...]]
    pico: bool = False  # measured in pmol/L or pg/mL, so OCR's "pmol" is not a misread "µmol"

    def loinc(self, unit_kind: str | None) -> tuple[str, str] | None:
        """The LOINC (code, display) matching the unit's kind (mass vs molar ...), if curated."""
        if "any" in self.codes:
            return self.codes["any"]
        if unit_kind is not None and unit_kind in self.codes:
            return self.codes[unit_kind]
        return None

    def all_names(self) -> list[str]:
        return sorted({n for names in self.names.values() for n in names})


def load_data(name: str) -> Any:
    with (DATA_DIR / name).open(encoding="utf-8") as handle:
        return json.load(handle)


@cache
def units() -> dict[str, Unit]:
    table: dict[str, list[str]] = load_data("lab_units.json")["units"]
    return {unit_key(alias): Unit(ucum=code, kind=kind) for alias, (code, kind) in table.items()}


@cache
def analytes() -> tuple[Analyte, ...]:
    rows: list[dict[str, Any]] = load_data("lab_loinc.json")["analytes"]
    return tuple(
        Analyte(
            key=row["key"],
            display=row["display"],
            category=row["category"],
            codes={kind: (pair[0], pair[1]) for kind, pair in row["codes"].items()},
            names={lang: tuple(names) for lang, names in row["names"].items()},
            pico=bool(row.get("pico", False)),
        )
        for row in rows
    )


@cache
def analyte_by_key() -> dict[str, Analyte]:
    return {a.key: a for a in analytes()}


@cache
def names_longest_first() -> tuple[tuple[str, Analyte], ...]:
    """Every (ocr_fold(name), analyte), longest first: 'hdl cholesterol' beats 'cholesterol'."""
    pairs = {(ocr_fold(name), a.key) for a in analytes() for name in a.all_names()}
    by_key = analyte_by_key()
    return tuple(
        (name, by_key[key]) for name, key in sorted(pairs, key=lambda p: (-len(p[0]), p[0]))
    )


# What Tesseract makes of unit strings: "mmol/1", "mlU/L", "U/!", "10*9/I", "1079/1", "10“12/".
# "µ" comes out as "H", "p", "u", "“" or "Hu" (the unit keys are lower-cased by then).
_OCR_UNIT_REPAIRS = (
    (re.compile(r"/[1i|!]$"), "/l"),
    (re.compile(r"^(?:h|hu|pu|[“”\"'|])(mol|kat|g)/"), r"u\1/"),
    (re.compile(r"/[ph]l$"), "/ul"),
    (re.compile(r"^ml(u/)"), r"mi\1"),
    (re.compile(r"^x?10[\^*\u201c\u201d\u2018\u2019\"'`°7%]?(9|12|3|6)/[l1i|!]?$"), r"10^\1/l"),
)


def lookup_unit(text: str) -> Unit | None:
    key = unit_key(text)
    found = units().get(key)
    if found is None:
        for pattern, replacement in _OCR_UNIT_REPAIRS:
            key = pattern.sub(replacement, key)
        found = units().get(key)
    return found


_OCR_NAME_FOLD = str.maketrans("li|o", "1110")


def ocr_fold(text: str) -> str:
    """fold() plus the letter/digit confusions of OCR (l/i/1, o/0), same length as fold()."""
    return fold(text).translate(_OCR_NAME_FOLD)


def loinc_codes() -> set[str]:
    """Every curated LOINC code: lab tests and vital signs."""
    lab = {code for a in analytes() for code, _ in a.codes.values()}
    vital_rows = load_data("vitals.json")["vitals"]
    vitals = {row[k][0] for row in vital_rows for k in ("loinc", "pair_loinc") if k in row}
    return lab | vitals
