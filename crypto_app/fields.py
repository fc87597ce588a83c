"""Field-level encryption for the few secrets the server must hold (e.g. `key_pass`).

Stored form: `mqfe1:<key id>:<AES-256-GCM envelope>`. The newest key of
MEDIQOM_FIELD_ENCRYPTION_KEYS encrypts; every listed key decrypts, found by its id (the first
8 hex digits of its SHA-256). A value without the prefix is legacy plaintext (a database that
predates this server): it is returned as is and encrypted on the next save.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

from crypto_app.primitives import CryptoFormatError, aes_decrypt, aes_encrypt

PREFIX = "mqfe1"


def _keys() -> list[tuple[str, bytes]]:
    keys = []
    for encoded in settings.MEDIQOM_FIELD_ENCRYPTION_KEYS:
        raw = base64.b64decode(encoded)
        keys.append((hashlib.sha256(raw).hexdigest()[:8], raw))
    return keys


def is_encrypted(value: str) -> bool:
    return value.startswith(f"{PREFIX}:")


def encrypt_value(plaintext: str) -> str:
    """Encrypt with the newest key."""
    key_id, key = _keys()[0]
    return f"{PREFIX}:{key_id}:{aes_encrypt(key, plaintext.encode('utf-8'))}"


def decrypt_value(stored: str) -> str:
    """Decrypt a stored value (legacy plaintext passes through)."""
    if not is_encrypted(stored):
        return stored
    _, key_id, envelope = stored.split(":", 2)
    for candidate_id, key in _keys():
        if candidate_id == key_id:
            try:
                return aes_decrypt(key, envelope).decode("utf-8")
            except CryptoFormatError as exc:
                raise ImproperlyConfigured(
                    f"field value under key {key_id} does not decrypt"
                ) from exc
    raise ImproperlyConfigured(
        f"field encryption key {key_id} is not in MEDIQOM_FIELD_ENCRYPTION_KEY"
    )


def needs_rotation(stored: str | None) -> bool:
    """True when a stored value is plaintext or under an older key."""
    if not stored:
        return False
    return not stored.startswith(f"{PREFIX}:{_keys()[0][0]}:")


class EncryptedTextField(models.TextField[Any, Any]):
    """A text column whose value is encrypted at rest; Python code sees plaintext."""

    def from_db_value(
        self, value: str | None, expression: Any, connection: BaseDatabaseWrapper
    ) -> str | None:
        return None if value is None else decrypt_value(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return value if is_encrypted(value) else encrypt_value(value)
