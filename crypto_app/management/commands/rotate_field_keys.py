"""`manage.py rotate_field_keys`: re-encrypt stored secrets under the newest field key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from crypto_app.services import field_keys_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt encrypted fields (private_keys.key_pass) under the first key of "
        "MEDIQOM_FIELD_ENCRYPTION_KEY. Run after adding a new key in front of the list; the old "
        "key can be removed once this reports 0 on a second run."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = field_keys_rotate()
        self.stdout.write(f"re-encrypted {count} value(s)")
