"""A few fixed statements in one libpq pipeline: one Sync, one round trip, one implicit
transaction (committed at the Sync, rolled back whole on any error).

psycopg's `Connection.pipeline()` with cursors costs ~0.2 ms of Python per request for two
statements (its queues, per-cursor result handling, and converting a long query's `%s`
placeholders again on every call: it caches only short queries). The hot read sends the same
two statements on every request (bench/README.md, fifth round), so here each statement is
converted once per process (`Statement`), prepared once per connection (named, protocol
level: PgBouncer >= 1.21 handles it as psycopg's own prepared statements), and the results are
loaded with psycopg's own loaders (`Transformer`, binary or text).

Built from psycopg's public pieces (`pgconn`, `Transformer`, `Connection.wait`) and its
generators (pinned psycopg version, requirements.lock); any error leaves the connection
unusable for this path only: the caller closes it.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import abc, errors, generators, pq
from psycopg._queries import PostgresQuery
from psycopg.adapt import Transformer

_OK = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK)


@dataclass
class Statement:
    """One statement (`%s` placeholders) and whether its rows come back in binary."""

    sql: str
    binary: bool = False
    # filled on first use (the placeholders' formats depend on psycopg's dumpers)
    _wire: tuple[bytes, Any] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def wire(self, tx: abc.Transformer, params: Sequence[Any]) -> tuple[bytes, Any]:
        """The statement with `$n` placeholders and the formats psycopg asks its dumpers for."""
        if self._wire is None:
            with self._lock:
                if self._wire is None:
                    query = PostgresQuery(tx)
                    query.convert(self.sql, params)
                    self._wire = (query.query, query._want_formats)
        return self._wire


# Per connection: its transformer and the statements prepared on it, by (query, types).
_connections: weakref.WeakKeyDictionary[Any, tuple[abc.Transformer, dict[Any, bytes]]] = (
    weakref.WeakKeyDictionary()
)


def run(
    raw: psycopg.Connection[Any],
    statements: Sequence[tuple[Statement, Sequence[Any]]],
    *,
    prepare: bool,
) -> list[tuple[Any, ...]]:
    """Send the statements in one pipeline and return the rows of the last one.

    Raises psycopg errors (the statement's own on a database error); after any exception the
    connection must be closed by the caller (its pipeline state is unknown)."""
    entry = _connections.get(raw)
    if entry is None:
        entry = _connections[raw] = (Transformer(raw), {})
    tx, prepared = entry
    pgconn = raw.pgconn
    sends: list[Any] = []
    new_names: dict[tuple[bytes, tuple[int, ...]], bytes] = {}  # prepared by this pipeline
    for statement, params in statements:
        query, formats = statement.wire(tx, params)
        values = tx.dump_sequence(params, formats)
        types, value_formats = tuple(tx.types or ()), tx.formats
        result_format = pq.Format.BINARY if statement.binary else pq.Format.TEXT
        if not prepare:
            sends.append(
                (pgconn.send_query_params, query, values, types, value_formats, result_format)
            )
            continue
        name = prepared.get((query, types))
        if name is None:
            name = (
                b"mediqom_" + hashlib.sha256(query + repr(types).encode()).hexdigest()[:24].encode()
            )
            sends.append((pgconn.send_prepare, name, query, types))
            new_names[(query, types)] = name
        sends.append((pgconn.send_query_prepared, name, values, value_formats, result_format))
    with raw.lock:
        pgconn.enter_pipeline_mode()
        for send, *args in sends:
            send(*args)
        pgconn.pipeline_sync()
        raw.wait(generators.send(pgconn))
        groups: list[list[pq.abc.PGresult]] = []
        while not groups or groups[-1][0].status != pq.ExecStatus.PIPELINE_SYNC:
            results = raw.wait(generators.fetch_many(pgconn))
            if results:
                groups.append(results)
        pgconn.exit_pipeline_mode()
    failure = next(
        (r for group in groups[:-1] for r in group if r.status not in _OK),
        None,
    )
    if failure is not None:
        if failure.status == pq.ExecStatus.FATAL_ERROR:
            raise errors.error_from_result(failure, encoding=raw.info.encoding)
        raise psycopg.OperationalError(f"pipeline result {pq.ExecStatus(failure.status).name}")
    prepared.update(new_names)
    last = groups[-2][-1]
    tx.set_pgresult(last)
    return list(tx.load_rows(0, last.ntuples, tuple))


def forget(raw: psycopg.Connection[Any]) -> None:
    """Forget what was prepared on this connection (after an error or a DISCARD)."""
    _connections.pop(raw, None)
