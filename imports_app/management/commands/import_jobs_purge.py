"""`manage.py import_jobs_purge [--every SECONDS]`: delete import jobs past their expiry and
re-enqueue jobs whose worker died mid-run."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from imports_app.services import import_jobs_purge_expired, import_jobs_recover_stale


class Command(BaseCommand):
    help = (
        "Delete import jobs past expires_at (completed 1 h, failed 24 h, never processed 24 h). "
        "Re-enqueue jobs whose run stopped moving for MEDIQOM_IMPORT_STALE_SECONDS (a dead "
        "worker); they resume from their last finished stage. With --every, keep running."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--every", type=int, default=0, help="repeat every N seconds")

    def handle(self, *args: Any, **options: Any) -> None:
        every: int = options["every"]
        while True:
            count = import_jobs_purge_expired()
            self.stdout.write(f"purged {count} import job(s)")
            recovered = import_jobs_recover_stale()
            if recovered:
                self.stdout.write(f"re-enqueued {recovered} stale import job(s)")
            if every <= 0:
                return
            time.sleep(every)
