"""`manage.py purge_sessions [--every SECONDS]`: delete ended sessions past their TTL."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from sessions_app.services import sessions_end_idle, sessions_purge


class Command(BaseCommand):
    help = (
        "Delete sessions ended more than MEDIQOM_SESSION_TTL_HOURS ago (transcripts, analysis, "
        "report, feedback, stream events). With --every it also ends idle sessions each round."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--every", type=int, default=0, help="repeat every N seconds")

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            if options["every"]:
                sessions_end_idle()
            self.stdout.write(f"purged {sessions_purge()} session(s)")
            if not options["every"]:
                return
            time.sleep(options["every"])
