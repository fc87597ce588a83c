"""`manage.py import_jobs_purge [--every SECONDS]`: delete import jobs past their expiry."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from imports_app.services import import_jobs_purge_expired


class Command(BaseCommand):
    help = (
        "Delete import jobs past expires_at (completed 1 h, failed 24 h, never processed 24 h). "
        "With --every, keep running and purge periodically."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--every", type=int, default=0, help="repeat every N seconds")

    def handle(self, *args: Any, **options: Any) -> None:
        every: int = options["every"]
        while True:
            count = import_jobs_purge_expired()
            self.stdout.write(f"purged {count} import job(s)")
            if every <= 0:
                return
            time.sleep(every)
