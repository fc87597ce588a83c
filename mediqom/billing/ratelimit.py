"""Per-IP rate limit of the public beta routes, counted from committed `billing_beta_attempts` rows.

Rows are the shared state, so the limit holds across processes and machines. The IP is stored
only as an HMAC-SHA-256 keyed with SECRET_KEY. Refused calls are not recorded, so after
`Retry-After` one more call is allowed; rows older than the window are pruned as we go.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from mediqom.billing.models import BetaAttempt
from mediqom.db.rls import service_context
from mediqom.errors import RateLimited


def normalize_email(email: str) -> str:
    return email.strip().lower()


def ip_digest(ip: str) -> str:
    key = settings.SECRET_KEY.encode("utf-8")
    return hmac.new(key, f"beta-ip:{ip}".encode(), hashlib.sha256).hexdigest()


def beta_attempt(*, ip: str) -> None:
    """Record one call from `ip`, or refuse it with 429 when the IP used up its budget."""
    digest = ip_digest(ip)
    window = timedelta(seconds=settings.MEDIQOM_BETA_RATE_WINDOW_SECONDS)
    allowed = int(settings.MEDIQOM_BETA_RATE_LIMIT)
    now = timezone.now()
    with service_context():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:  # serialise count-then-insert per IP
                cursor.execute(
                    "select pg_advisory_xact_lock(hashtextextended(%s, 0))",
                    [f"mediqom.beta.ip:{digest}"],
                )
        rows = BetaAttempt.objects.filter(ip_digest=digest)
        rows.filter(created_at__lte=now - window).delete()
        recent = list(rows.order_by("created_at").values_list("created_at", flat=True))
        if len(recent) >= allowed:
            leaves_at = recent[len(recent) - allowed] + window
            wait = max(math.ceil((leaves_at - now).total_seconds()), 1)
        else:
            BetaAttempt.objects.create(ip_digest=digest, created_at=now)
            return
    refused = RateLimited(wait)
    refused.legacy_error = True  # the beta form reads `error`, like the reference's answers
    raise refused
