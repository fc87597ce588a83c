"""Codes for extracted lab values from the curated tables, read back from the document itself.

After the provenance check, each value is looked up in the document's own lines with the
rules of the offline provider (imports_app.local.labs): where a line names the same test
(the client's `signal` key) with the same number, the value gets what the tables know —
LOINC code and display, UCUM unit, numeric reference range, flag, comparator — for the keys
the extraction left empty (a test not in the tables gets `loinc: null`). Nothing comes from a
model: a code is attached only when the document's text and the curated tables agree, so the
schema-limited answer of any provider (remote or `local`) ends up with the same coding.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from imports_app.local.labs import extract_lab_values

from .provenance import numbers

FILLED = (
    "name", "display", "valueText", "comparator", "ucum", "referenceRange", "flag",
    "flagSource", "loinc", "loincDisplay", "observationCategory", "evidence",
)  # fmt: skip


def _empty(value: Any) -> bool:
    if isinstance(value, dict):
        return all(item is None for item in value.values())
    return value in (None, "", [])


def code_signals(signals: list[dict[str, Any]], pages: list[dict[str, Any]]) -> None:
    """Fill the empty coding keys of `signals` in place from the document's matching lines."""
    pairs = [(int(p.get("page") or 1), str(p.get("text", ""))) for p in pages]
    found: dict[tuple[str, Decimal], dict[str, Any]] = {}
    for lab in extract_lab_values(pairs):
        local = lab.as_signal(date=None)
        key = (str(local["signal"]), Decimal(str(lab.value)).normalize())
        found.setdefault(key, local)
    for signal in signals:
        wanted = numbers(str(signal.get("value", "")))
        if len(wanted) != 1:
            continue
        match = found.get((str(signal.get("signal", "")), wanted[0]))
        if match is None:
            continue
        for name in FILLED:
            if name not in signal or (_empty(signal[name]) and not _empty(match.get(name))):
                signal[name] = match.get(name)
