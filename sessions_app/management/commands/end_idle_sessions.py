"""`manage.py end_idle_sessions [--every SECONDS]`: end sessions idle past the limit."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from sessions_app.services import sessions_end_idle


class Command(BaseCommand):
    help = "End active sessions idle longer than MEDIQOM_SESSION_IDLE_MINUTES."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--every", type=int, default=0, help="repeat every N seconds")

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            self.stdout.write(f"ended {sessions_end_idle()} idle session(s)")
            if not options["every"]:
                return
            time.sleep(options["every"])
