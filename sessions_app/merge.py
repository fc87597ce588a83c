"""The cumulative analysis of a session (contract §4.1): each update's items are merged into
the arrays kept so far, matched by `name` or `description` (case-insensitive); a matching item
is replaced by its newer version, a new one is appended."""

from __future__ import annotations

from typing import Any

CUMULATIVE = ("diagnosis", "treatment", "medication", "followUp")
# Also kept cumulatively, with their own natural keys.
EXTRA_KEYS = {"clarifyingQuestions": "question", "doctorRecommendations": "recommendation"}


def _key(item: dict[str, Any], field: str | None = None) -> str | None:
    for name in (field,) if field else ("name", "description"):
        value = item.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip().casefold()
    return None


def merge_items(
    current: list[dict[str, Any]], update: list[Any], field: str | None = None
) -> list[dict[str, Any]]:
    merged = [dict(item) for item in current]
    index = {key: i for i, item in enumerate(merged) if (key := _key(item, field)) is not None}
    for item in update:
        if not isinstance(item, dict):
            continue
        key = _key(item, field)
        if key is not None and key in index:
            merged[index[key]] = {**merged[index[key]], **item}
        else:
            if key is not None:
                index[key] = len(merged)
            merged.append(dict(item))
    return merged


def merge_analysis(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """The new cumulative analysis; `current` is not modified."""
    merged = dict(current)
    for name in CUMULATIVE:
        merged[name] = merge_items(list(current.get(name) or []), list(update.get(name) or []))
    for name, field in EXTRA_KEYS.items():
        if name in update or name in current:
            merged[name] = merge_items(
                list(current.get(name) or []), list(update.get(name) or []), field
            )
    for name, value in update.items():
        if name not in CUMULATIVE and name not in EXTRA_KEYS:
            merged[name] = value
    return merged


def analysis_update_payload(merged: dict[str, Any], incremental: dict[str, Any]) -> dict[str, Any]:
    """`analysis_update.data` of the session stream (contract §3.2)."""
    return {
        "diagnosis": merged.get("diagnosis", []),
        "treatment": merged.get("treatment", []),
        "medication": merged.get("medication", []),
        "followUp": merged.get("followUp", []),
        "incremental": incremental,
    }
