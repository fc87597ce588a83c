"""Hot read paths: a queryset shape compiled to SQL once per process, not on every request.

Building and compiling a scoped queryset (`for_user()` with its nested EXISTS subqueries) costs
about 1.5 ms of CPU per request, more than the database needs to answer it. `CompiledQuery`
builds the queryset once with placeholder ids, keeps Django's SQL and parameters, and on each
call puts the real ids where the placeholders were. The SQL is exactly what the ORM generates
for the same queryset (tests/test_compiled_query.py checks it against a fresh compile), so
`for_user()` stays the only definition of the scope.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import connections, models
from django.db.models.query import RawQuerySet

M = TypeVar("M", bound=models.Model)

# Placeholder ids: random per process, so no real id can collide with one.
_PLACEHOLDERS = tuple(uuid.uuid4() for _ in range(4))


class CompiledIds:
    """What a build function gets: `.id` is the first id (pass it as the user to
    `for_user()`), `.ids` all of them in order."""

    def __init__(self, ids: Sequence[uuid.UUID]) -> None:
        self.id = ids[0]
        self.ids = ids


@dataclass(frozen=True)
class _Compiled(Generic[M]):
    model: type[M]
    sql: str
    params: list[Any]
    slots: list[int | None]  # for each parameter: which id it is, or None (a constant)


class CompiledQuery(Generic[M]):
    """`build(ids, *shape)` returns the queryset for up to four ids; `shape` (hashable, no
    ids: types, flags) selects the compiled variant. Ids must only appear as query parameters."""

    def __init__(self, build: Callable[..., models.QuerySet[M]], id_count: int) -> None:
        if not 1 <= id_count <= len(_PLACEHOLDERS):
            raise ValueError("between 1 and 4 ids")
        self._build = build
        self._id_count = id_count
        self._cache: dict[tuple[str, Hashable], _Compiled[M]] = {}
        self._lock = threading.Lock()

    def queryset(self, ids: Sequence[uuid.UUID], *shape: Hashable) -> models.QuerySet[M]:
        """The ORM queryset itself (what the compiled SQL stands for)."""
        return self._build(CompiledIds(ids), *shape)

    def raw(
        self, ids: Sequence[uuid.UUID], *shape: Hashable, using: str = "default"
    ) -> RawQuerySet[M]:
        sql, params = self.statement(ids, *shape, using=using)
        model = self.compiled(*shape, using=using).model
        return model._default_manager.db_manager(using).raw(sql, params)

    def statement(
        self, ids: Sequence[uuid.UUID], *shape: Hashable, using: str = "default"
    ) -> tuple[str, list[Any]]:
        """The SQL (with `%s` placeholders) and its parameters for these ids, to run as it
        is or to embed as a subquery (mediqom/records/fast_reads.py)."""
        if len(ids) != self._id_count:
            raise ValueError(f"expected {self._id_count} ids")
        compiled = self.compiled(*shape, using=using)
        actual = [
            _as_param(ids[slot], compiled.params[n]) if slot is not None else compiled.params[n]
            for n, slot in enumerate(compiled.slots)
        ]
        return compiled.sql, actual

    def compiled(self, *shape: Hashable, using: str = "default") -> _Compiled[M]:
        """The compiled variant for this shape on this database (compiled on first use)."""
        connection = connections[using]
        key = (connection.vendor, shape)
        compiled = self._cache.get(key)
        if compiled is None:
            with self._lock:
                compiled = self._cache.get(key) or self._compile(key, using, shape)
        return compiled

    def _compile(
        self, key: tuple[str, Hashable], using: str, shape: tuple[Hashable, ...]
    ) -> _Compiled[M]:
        placeholders = list(_PLACEHOLDERS[: self._id_count])
        queryset = self._build(CompiledIds(placeholders), *shape)
        sql, params = queryset.query.get_compiler(using=using).as_sql()
        forms = {_form(placeholder): slot for slot, placeholder in enumerate(placeholders)}
        slots = [forms.get(_form(param)) for param in params]
        for placeholder in placeholders:
            for form in {str(placeholder), placeholder.hex}:
                if form in sql:
                    raise ValueError("an id was inlined into the SQL; it must be a parameter")
        compiled = _Compiled(queryset.model, sql, list(params), slots)
        self._cache[key] = compiled
        return compiled


def _form(value: Any) -> str | None:
    """A comparable form of a parameter: UUIDs as hex (SQLite gets hex strings already)."""
    if isinstance(value, uuid.UUID):
        return value.hex
    return value if isinstance(value, str) else None


def _as_param(value: uuid.UUID, placeholder_param: Any) -> Any:
    """The id in the same form Django gave the placeholder (UUID object or hex string)."""
    return value.hex if isinstance(placeholder_param, str) else value
