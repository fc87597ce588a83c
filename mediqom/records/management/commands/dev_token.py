"""`manage.py dev_token EMAIL`: print an access token for the embedded (dev) server."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from mediqom.auth.tokens import mint_token

DEV_NAMESPACE = uuid.UUID("6f1c1a52-7d1e-4b8e-9a43-3b8f0d3c2a10")


def dev_user_id(email: str) -> uuid.UUID:
    """The same email always maps to the same user id, so data survives new tokens."""
    return uuid.uuid5(DEV_NAMESPACE, email.strip().lower())


class Command(BaseCommand):
    help = "Print a Supabase-shaped HS256 access token for EMAIL (embedded/dev mode only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--hours", type=int, default=12, help="lifetime (default 12)")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.EMBEDDED:
            raise CommandError("dev_token is disabled when MEDIQOM_ENV=production.")
        email: str = options["email"]
        if "@" not in email:
            raise CommandError("EMAIL must look like an email address.")
        hours: int = options["hours"]
        if not 1 <= hours <= 24 * 30:
            raise CommandError("--hours must be between 1 and 720.")
        token = mint_token(dev_user_id(email), email=email, lifetime_seconds=hours * 3600)
        self.stdout.write(token)
