"""The ICD-10 code table shipped with the app (data/icd10.tsv). Any analysis, local or AI, may
only carry codes from it: an invented or mistyped code is dropped from the diagnosis."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

TABLE = Path(__file__).resolve().parent / "data" / "icd10.tsv"


@cache
def icd10_codes() -> dict[str, str]:
    """Code -> English title."""
    codes: dict[str, str] = {}
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        code, title = line.split("\t", 1)
        codes[code.strip()] = title.strip()
    return codes


def normalize_code(value: object) -> str | None:
    """The table's spelling of a code ("i30.9 " -> "I30.9"), or None when it is not in the table."""
    if not isinstance(value, str):
        return None
    code = value.strip().upper().replace(" ", "")
    return code if code in icd10_codes() else None


def verify_diagnosis_codes(analysis: dict[str, Any]) -> dict[str, Any]:
    """Keep each diagnosis, but only with a code from the table (invented codes are removed)."""
    diagnoses = analysis.get("diagnosis")
    if not isinstance(diagnoses, list):
        return analysis
    checked = []
    for item in diagnoses:
        if not isinstance(item, dict):
            continue
        item = dict(item)
        code = normalize_code(item.get("code"))
        if code is None:
            item.pop("code", None)
        else:
            item["code"] = code
        checked.append(item)
    return {**analysis, "diagnosis": checked}
