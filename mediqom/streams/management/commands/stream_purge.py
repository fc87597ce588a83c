"""`manage.py stream_purge [--every SECONDS]`: delete events of streams past their retention."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from mediqom.streams.services import stream_purge


class Command(BaseCommand):
    help = (
        "Delete the stored events of streams that ended more than "
        "MEDIQOM_STREAM_RETENTION_SECONDS ago. With --every, keep running and purge periodically."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--every", type=int, default=0, help="repeat every N seconds")

    def handle(self, *args: Any, **options: Any) -> None:
        every: int = options["every"]
        while True:
            count = stream_purge()
            self.stdout.write(f"purged {count} event(s)")
            if every <= 0:
                return
            time.sleep(every)
