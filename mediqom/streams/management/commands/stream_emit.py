"""`manage.py stream_emit KEY --owner UUID|--email EMAIL`: append demo events to a stream."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mediqom.errors import InvalidInput
from mediqom.records.management.commands.dev_token import dev_user_id
from mediqom.streams.services import stream_append, stream_end, validate_key


class Command(BaseCommand):
    help = (
        "Append events to stream KEY (e.g. demo:1) owned by --owner (a profile id) or by the "
        "dev user of --email, as `{type, data, timestamp}`; follow it with GET /v1/streams/KEY."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("key")
        owner = parser.add_mutually_exclusive_group(required=True)
        owner.add_argument("--owner", help="owning profile id")
        owner.add_argument("--email", help="the dev user of this email (as for dev_token)")
        parser.add_argument("--type", default="demo", help="event type (default demo)")
        parser.add_argument("--data", default="{}", help="JSON for the event's data")
        parser.add_argument("--count", type=int, default=1, help="how many events (default 1)")
        parser.add_argument("--interval", type=float, default=0.0, help="seconds between events")
        parser.add_argument("--end", action="store_true", help="end the stream afterwards")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            key = validate_key(options["key"])
        except InvalidInput as exc:
            raise CommandError("KEY must look like kind:id, e.g. demo:1") from exc
        try:
            owner = (
                uuid.UUID(options["owner"]) if options["owner"] else dev_user_id(options["email"])
            )
            data = json.loads(options["data"])
        except ValueError as exc:
            raise CommandError("--owner must be a UUID and --data JSON") from exc
        count: int = options["count"]
        if count < 1:
            raise CommandError("--count must be at least 1")
        for index in range(count):
            if index and options["interval"] > 0:
                time.sleep(options["interval"])
            payload = {"type": options["type"], "data": data, "timestamp": int(time.time() * 1000)}
            seq = stream_append(key=key, owner_id=owner, payload=payload)
            self.stdout.write(f"{key} {seq}")
        if options["end"]:
            stream_end(key=key)
