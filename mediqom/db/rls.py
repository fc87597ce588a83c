"""Row-level security context: act as Supabase's `authenticated` role for one transaction.

On PostgreSQL, `rls_context(user)` opens a transaction and sets, transaction-locally,
`role = authenticated` plus `request.jwt.claims` / `request.jwt.claim.sub`, which the policies
read through `auth.uid()`. Nothing leaks to the next transaction of a pooled connection. On
SQLite (embedded mode) it is just a transaction; the ORM's `for_user()` filters still scope.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol
from uuid import UUID

from django.db import connection, transaction

RLS_ROLE = "authenticated"


class HasClaims(Protocol):
    @property
    def id(self) -> UUID: ...

    @property
    def claims(self) -> dict[str, Any]: ...


def rls_enabled() -> bool:
    return connection.vendor == "postgresql"


def apply_rls(user: HasClaims) -> None:
    """Switch the current transaction to the user's RLS identity (must be inside atomic)."""
    if not rls_enabled():
        return
    if not connection.in_atomic_block:
        raise RuntimeError("apply_rls() must run inside a transaction")
    claims = {**user.claims, "sub": str(user.id), "role": RLS_ROLE}
    with connection.cursor() as cursor:
        cursor.execute(
            "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true),"
            " set_config('request.jwt.claim.sub', %s, true)",
            [RLS_ROLE, json.dumps(claims, default=str), str(user.id)],
        )


def clear_rls() -> None:
    """Drop the RLS identity again. Only needed when rls_context() ran nested inside an outer
    transaction (tests, ATOMIC_REQUESTS): transaction-local settings outlive a savepoint."""
    if not rls_enabled() or not connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "select set_config('role', 'none', true), set_config('request.jwt.claims', '', true),"
            " set_config('request.jwt.claim.sub', '', true)"
        )


@contextmanager
def rls_context(user: HasClaims) -> Iterator[None]:
    """A transaction in which the database itself hides rows the user may not see."""
    nested = connection.in_atomic_block
    with transaction.atomic():
        apply_rls(user)
        yield
    if nested:
        clear_rls()


@contextmanager
def service_context() -> Iterator[None]:
    """A transaction with the server's own rights (recovery, account deletion, commands)."""
    with transaction.atomic():
        yield
