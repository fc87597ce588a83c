"""Vital signs in running text ("TK 135/85 mmHg, TF 72/min, TT 36,8 °C"): label, value, unit.

A value counts only with a label from imports_app/data/vitals.json right before it AND the unit
its pattern requires (blood pressure: two numbers around "/"). Reports print no reference range
for vitals, so no flag is derived.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from imports_app.local.catalog import Analyte, load_data
from imports_app.local.labs import LabValue

VITAL_SIGNS = "vital-signs"


@dataclass(frozen=True)
class _Vital:
    analyte: Analyte
    pair: Analyte | None
    ucum: str
    pattern: re.Pattern[str]


def _analyte(key: str, display: str, loinc: list[str]) -> Analyte:
    return Analyte(
        key=key,
        display=display,
        category=VITAL_SIGNS,
        codes={"any": (loinc[0], loinc[1])},
        names={},
    )


@cache
def vitals() -> tuple[_Vital, ...]:
    rows: list[dict[str, Any]] = load_data("vitals.json")["vitals"]
    out = []
    for row in rows:
        names = "|".join(re.escape(n) for n in sorted(row["names"], key=len, reverse=True))
        pattern = re.compile(rf"(?<!\w)(?P<label>{names})\s*[:=]?\s*{row['value']}", re.IGNORECASE)
        pair = None
        if row.get("pair"):
            pair = _analyte(row["pair"], row["pair_loinc"][1], row["pair_loinc"])
        out.append(
            _Vital(
                analyte=_analyte(row["key"], row["display"], row["loinc"]),
                pair=pair,
                ucum=row["ucum"],
                pattern=pattern,
            )
        )
    return tuple(out)


def _value(
    analyte: Analyte, text: str, label: str, unit: str | None, ucum: str, *, page: int, line: str
) -> LabValue:
    return LabValue(
        name=label,
        value=float(text.replace(",", ".")),
        value_text=text,
        unit=unit,
        ucum=ucum,
        unit_kind=None,
        low=None,
        high=None,
        reference=None,
        flag=None,
        flag_source=None,
        comparator=None,
        page=page,
        line=line,
        analyte=analyte,
        loinc=analyte.loinc(None),
    )


def parse_vitals(raw: str, *, page: int) -> list[LabValue]:
    """Every vital sign on one line, in the order the line gives them."""
    line = " ".join(raw.split())
    if not line or len(line) > 300:
        return []
    taken: list[tuple[int, int, list[LabValue]]] = []
    for vital in vitals():
        for match in vital.pattern.finditer(line):
            start, end = match.span()
            if any(start < e and s < end for s, e, _ in taken):
                continue
            label = match.group("label")
            unit = line[match.end(match.lastindex or 0) : end].strip() or None
            first = _value(
                vital.analyte, match.group(2), label, unit, vital.ucum, page=page, line=line
            )
            found = [first]
            if vital.pair is not None:
                found.append(
                    _value(
                        vital.pair, match.group(3), label, unit, vital.ucum, page=page, line=line
                    )
                )
            taken.append((start, end, found))
    return [value for _, _, found in sorted(taken, key=lambda t: t[0]) for value in found]
