"""Fields that keep the Supabase column types on PostgreSQL and still work on SQLite."""

from __future__ import annotations

import json
from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper


class TextArrayField(models.Field[list[str], list[str]]):
    """`varchar[]` on PostgreSQL (as Supabase's `documents.attachments`), JSON text elsewhere."""

    description = "List of strings"

    def db_type(self, connection: BaseDatabaseWrapper) -> str:
        return "varchar[]" if connection.vendor == "postgresql" else "text"

    def from_db_value(
        self, value: Any, expression: Any, connection: BaseDatabaseWrapper
    ) -> list[str] | None:
        if value is None or isinstance(value, list):
            return value
        decoded = json.loads(value)
        return [str(item) for item in decoded]

    def to_python(self, value: Any) -> list[str] | None:
        if value is None or isinstance(value, list):
            return value
        if isinstance(value, str):
            return [str(item) for item in json.loads(value)]
        return [str(item) for item in value]

    def get_db_prep_value(
        self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False
    ) -> Any:
        if value is None:
            return None
        items = [str(item) for item in value]
        return items if connection.vendor == "postgresql" else json.dumps(items)
