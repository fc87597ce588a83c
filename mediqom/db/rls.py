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

import orjson
from django.db import connection, transaction

RLS_ROLE = "authenticated"


class HasClaims(Protocol):
    @property
    def id(self) -> UUID: ...

    @property
    def claims(self) -> dict[str, Any]: ...


def rls_enabled() -> bool:
    return connection.vendor == "postgresql"


_SWITCH = (
    "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true),"
    " set_config('request.jwt.claim.sub', %s, true)"
)
# The same switch, also answering whether the caller's profile row exists: one round trip
# instead of two for every API request (BaseApi). The row is visible under either identity.
_SWITCH_AND_PROFILE = _SWITCH + ", exists (select 1 from public.profiles where id = %s)"  # noqa: S608


def _claims_json(user: HasClaims) -> str:
    claims = {**user.claims, "sub": str(user.id), "role": RLS_ROLE}
    try:
        return orjson.dumps(claims, default=str).decode()
    except TypeError:  # orjson.JSONEncodeError: e.g. an integer beyond 64 bits
        return json.dumps(claims, default=str)


def apply_rls(user: HasClaims) -> None:
    """Switch the current transaction to the user's RLS identity (must be inside atomic)."""
    if not rls_enabled():
        return
    if not connection.in_atomic_block:
        raise RuntimeError("apply_rls() must run inside a transaction")
    with connection.cursor() as cursor:
        cursor.execute(_SWITCH, [RLS_ROLE, _claims_json(user), str(user.id)])


def apply_rls_and_check_profile(user: HasClaims) -> bool | None:
    """`apply_rls()`, answering in the same statement whether `profiles` holds the user's row.
    None where there is no RLS (SQLite): the caller checks the ORM way. Inside a transaction."""
    if not rls_enabled():
        return None
    if not connection.in_atomic_block:
        raise RuntimeError("apply_rls_and_check_profile() must run inside a transaction")
    with connection.cursor() as cursor:
        cursor.execute(
            _SWITCH_AND_PROFILE, [RLS_ROLE, _claims_json(user), str(user.id), str(user.id)]
        )
        row = cursor.fetchone()
    return bool(row and row[3])


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
