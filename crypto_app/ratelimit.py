"""Rate limit of the unauthenticated recovery endpoints, counted from `recovery_attempts` rows.

Rows are the shared state, so the limit holds across processes and machines. A caller is keyed
twice, by an HMAC-SHA-256 (keyed with SECRET_KEY) of the normalised email (never the email
itself) and by the client IP; either key over the limit refuses the attempt. Counted: failed
and still-running attempts of the recovery endpoints inside the window. Successful attempts
(a key holder finishing the verify → update → update-recovery flow) and refused
(rate-limited) ones are not counted, so `Retry-After` is exact: after it, one more attempt is
allowed.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from mediqom.records.models import RecoveryAttempt

# attempt_type of each recovery endpoint; they share one budget.
RECOVERY_VERIFY = "recovery_verify"
PASSPHRASE_RESET = "passphrase_reset"  # noqa: S105 - an attempt type, not a secret
RECOVERY_UPDATE = "recovery_update"
RECOVERY_ATTEMPT_TYPES = (RECOVERY_VERIFY, PASSPHRASE_RESET, RECOVERY_UPDATE)

# metadata["outcome"] of a refused attempt; such rows are recorded but never counted.
RATE_LIMITED = "rate_limited"


def limit() -> int:
    return int(settings.MEDIQOM_RECOVERY_RATE_LIMIT)


def window() -> timedelta:
    return timedelta(seconds=settings.MEDIQOM_RECOVERY_RATE_WINDOW_SECONDS)


def normalize_email(email: str) -> str:
    """The lookup form of an email: trimmed and lower-cased."""
    return email.strip().lower()


@dataclass(frozen=True)
class RecoveryCaller:
    """Who is trying: the keys the limit counts by (no email in clear)."""

    email_sha256: str
    ip: str

    @classmethod
    def build(cls, *, email: str, ip: str) -> RecoveryCaller:
        # keyed, so the stored digest cannot be reversed with a list of likely emails
        digest = hmac.new(
            settings.SECRET_KEY.encode("utf-8"),
            normalize_email(email).encode("utf-8"),
            hashlib.sha256,
        ).hexdigest()
        return cls(email_sha256=digest, ip=ip)


def lock(caller: RecoveryCaller) -> None:
    """Serialise count-then-insert per email and per IP until the transaction ends.

    Always email before IP, so two callers can never wait on each other in a cycle.
    """
    if connection.vendor != "postgresql":
        return  # SQLite (embedded) serialises writers anyway
    with connection.cursor() as cursor:
        for key in (
            f"mediqom.recovery.email:{caller.email_sha256}",
            f"mediqom.recovery.ip:{caller.ip}",
        ):
            cursor.execute("select pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])


def retry_after(caller: RecoveryCaller, *, now: datetime | None = None) -> int | None:
    """Seconds until the caller may try again, or None when an attempt is allowed now."""
    now = now or timezone.now()
    span, allowed = window(), limit()
    rows = (
        RecoveryAttempt.objects.filter(
            attempt_type__in=RECOVERY_ATTEMPT_TYPES,
            success=False,
            created_at__gt=now - span,
        )
        .filter(Q(metadata__email_sha256=caller.email_sha256) | Q(metadata__ip=caller.ip))
        .exclude(metadata__outcome=RATE_LIMITED)
        .order_by("created_at")
        .values_list("created_at", "metadata")
    )
    by_email: list[datetime] = []
    by_ip: list[datetime] = []
    for created_at, metadata in rows:
        if metadata.get("email_sha256") == caller.email_sha256:
            by_email.append(created_at)
        if metadata.get("ip") == caller.ip:
            by_ip.append(created_at)
    waits = [_wait(times, allowed, span, now) for times in (by_email, by_ip)]
    return max((w for w in waits if w is not None), default=None)


def _wait(times: list[datetime], allowed: int, span: timedelta, now: datetime) -> int | None:
    """With `times` ascending: seconds until fewer than `allowed` remain in the window."""
    if len(times) < allowed:
        return None
    # The attempt whose expiry brings the count below the limit.
    leaves_at = times[len(times) - allowed] + span
    return max(math.ceil((leaves_at - now).total_seconds()), 1)
