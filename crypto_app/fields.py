"""Field-level encryption for the secrets and patient data the server must hold (`key_pass`,
stream event payloads).

Stored form: `mqfe1:<key id>:<AES-256-GCM envelope>`, the envelope being
`base64(iv[12] ‖ ciphertext ‖ tag[16])` as in `crypto_app.primitives`. The newest key of
MEDIQOM_FIELD_ENCRYPTION_KEYS encrypts; every listed key decrypts, found by its id (the first
8 hex digits of its SHA-256). A value without the prefix is legacy plaintext (a database that
predates this server): it is returned as is and encrypted on the next save.

Stream appends encrypt one small value per event, so the key ring is built once per key list
(a changed setting, e.g. during rotation, builds a new one) and the cipher is `cryptography`'s
AESGCM (OpenSSL): about 2 µs per 1 KiB value against about 60 µs for pycryptodome's per-call
GCM setup (bench/README.md, "Crypto primitives"). The wire format is the same either way.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import secrets
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

from crypto_app.primitives import GCM_IV_BYTES, GCM_TAG_BYTES

PREFIX = "mqfe1"


@functools.lru_cache(maxsize=8)
def _ring(encoded_keys: tuple[str, ...]) -> tuple[tuple[str, AESGCM], ...]:
    ring = []
    for encoded in encoded_keys:
        raw = base64.b64decode(encoded)
        ring.append((hashlib.sha256(raw).hexdigest()[:8], AESGCM(raw)))
    return tuple(ring)


def _keys() -> tuple[tuple[str, AESGCM], ...]:
    """(key id, cipher) of every configured key, the newest (encrypting) one first."""
    return _ring(tuple(settings.MEDIQOM_FIELD_ENCRYPTION_KEYS))


def is_encrypted(value: str) -> bool:
    return value.startswith(f"{PREFIX}:")


def encrypt_value(plaintext: str) -> str:
    """Encrypt with the newest key."""
    key_id, cipher = _keys()[0]
    iv = secrets.token_bytes(GCM_IV_BYTES)
    sealed = iv + cipher.encrypt(iv, plaintext.encode("utf-8"), None)
    return f"{PREFIX}:{key_id}:{base64.b64encode(sealed).decode('ascii')}"


def decrypt_value(stored: str) -> str:
    """Decrypt a stored value (legacy plaintext passes through)."""
    if not is_encrypted(stored):
        return stored
    _, key_id, envelope = stored.split(":", 2)
    for candidate_id, cipher in _keys():
        if candidate_id == key_id:
            try:
                sealed = base64.b64decode(envelope, validate=True)
                if len(sealed) < GCM_IV_BYTES + GCM_TAG_BYTES:
                    raise ValueError("envelope is too short")
                iv = sealed[:GCM_IV_BYTES]
                return cipher.decrypt(iv, sealed[GCM_IV_BYTES:], None).decode("utf-8")
            except (binascii.Error, ValueError, InvalidTag) as exc:
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
