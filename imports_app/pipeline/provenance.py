"""Every extracted value keeps its source; a number the document does not contain is rejected.

A model can misread or invent a lab value. Each signal's numbers must occur in the document's
text (decimal comma or point, trailing zeros ignored); the value then carries
`provenance: {page, text}` (the page and the line it came from). Values that fail are dropped
and reported (`rejected`), never stored.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any


def numbers(text: str) -> list[Decimal]:
    out: list[Decimal] = []
    for match in re.finditer(r"\d+(?:[.,]\d+)?", text):
        try:
            out.append(Decimal(match.group(0).replace(",", ".")).normalize())
        except InvalidOperation:
            continue
    return out


def _lines(pages: list[dict[str, Any]]) -> list[tuple[int, str, set[Decimal]]]:
    lines = []
    for page in pages:
        for line in str(page.get("text", "")).splitlines():
            if line.strip():
                lines.append((int(page.get("page", 1)), line.strip(), set(numbers(line))))
    return lines


def _score(line: str, name: str, unit: str) -> int:
    text = line.lower()
    return (2 if name and name in text else 0) + (1 if unit and unit in text else 0)


def verify_signals(
    signals: list[dict[str, Any]], pages: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(kept signals with provenance, rejected {signal, reason})."""
    lines = _lines(pages)
    kept: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for signal in signals:
        value = str(signal.get("value", ""))
        wanted = numbers(value)
        name = str(signal.get("signal", "")).lower().replace("_", " ")
        unit = str(signal.get("unit", "")).lower()
        if wanted:
            candidates = [line for line in lines if set(wanted) <= line[2]]
            if not candidates:
                rejected.append({"signal": signal.get("signal"), "reason": "value_not_in_document"})
                continue
        else:
            needle = value.strip().lower()
            candidates = [line for line in lines if needle and needle in line[1].lower()]

        best = max(candidates, key=lambda line: _score(line[1], name, unit), default=None)
        clean = dict(signal)
        clean["provenance"] = (
            {"page": best[0], "text": best[1][:500]} if best else {"page": None, "text": ""}
        )
        kept.append(clean)
    return kept, rejected
