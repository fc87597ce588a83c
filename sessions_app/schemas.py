"""The function-calling schemas of contract §4.7 (schemas/*.json, copied from the reference
client), with their `[LANGUAGE]` placeholder filled in per call."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, Literal

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
SchemaName = Literal["transcript", "diagnosis", "report"]


@cache
def _raw(name: SchemaName) -> str:
    return (SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8")


def load_schema(name: SchemaName, language: str = "English") -> dict[str, Any]:
    """A fresh copy of the schema with every `[LANGUAGE]` replaced by the language name."""
    data: dict[str, Any] = json.loads(_raw(name).replace("[LANGUAGE]", language))
    return data
