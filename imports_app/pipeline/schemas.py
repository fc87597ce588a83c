"""Extraction schemas: JSON data files in imports_app/schemas/ (from the reference client)."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


@functools.cache
def _load(name: str) -> dict[str, Any]:
    path = SCHEMA_DIR / f"{name}.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


# Metadata the reference asks every node for and then strips: never a reason to reject.
OPTIONAL_AT_ROOT = ("documentContext", "processingNotes", "processingConfidence")


def schema(name: str) -> dict[str, Any]:
    """A fresh copy of the function schema `name` (callers may not mutate the cache); the
    wrapper metadata keys are not required."""
    function = copy.deepcopy(_load(name))
    parameters = function.get("parameters") or {}
    if isinstance(parameters.get("required"), list):
        parameters["required"] = [r for r in parameters["required"] if r not in OPTIONAL_AT_ROOT]
    return function


def schema_names() -> list[str]:
    return sorted(p.stem for p in SCHEMA_DIR.glob("*.json"))
