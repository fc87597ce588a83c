"""Input serializers of the encryption-settings and recovery endpoints (contract §2.4).

Ciphertexts (`privateKey`, recovery envelopes) are stored verbatim: not trimmed, any length
(the body-size limit still applies). Hashes and identifiers get tight formats, so a malformed
value is a 400 before anything is read or written.
"""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from rest_framework import serializers

from crypto_app.primitives import CryptoFormatError, normalize_recovery_key
from mediqom.api.fields import StrictCharField

# base64(SHA-256(...)): 32 bytes → 43 characters and one "=".
recovery_hash_format = RegexValidator(
    r"\A[A-Za-z0-9+/]{43}=\Z", "Must be the base64 SHA-256 recovery key hash"
)
base64_format = RegexValidator(r"\A[A-Za-z0-9+/]+={0,2}\Z", "Must be standard base64")

EMAIL_MAX = 320
RECOVERY_KEY_MAX = 128  # 49 in display form; room for stray whitespace
KEY_HASH_MAX = 200  # bcrypt hashes are 60
PASSKEY_ID_MAX = 2048  # WebAuthn ids are at most 1023 bytes
PASSKEY_SALT_MAX = 128  # base64 of 32 bytes is 44


def ciphertext(**kwargs: Any) -> serializers.CharField:
    return StrictCharField(trim_whitespace=False, allow_blank=False, **kwargs)


# Optional strings: may be omitted, null or "" (the view treats "" as absent).
OPTIONAL: dict[str, Any] = {"required": False, "allow_null": True, "allow_blank": True}


def recovery_key_field() -> serializers.CharField:
    return StrictCharField(max_length=RECOVERY_KEY_MAX, trim_whitespace=False)


def check_recovery_key(value: str) -> str:
    """Format only (40 Crockford base32 characters); whether it is right is checked later."""
    try:
        normalize_recovery_key(value)
    except CryptoFormatError as exc:
        raise serializers.ValidationError(str(exc)) from None
    return value


class KeyCredentialsFields(serializers.Serializer):  # type: ignore[type-arg]
    """The key material both /settings/encryption and /recover/update send."""

    privateKey = ciphertext(source="private_key")
    key_hash = StrictCharField(max_length=KEY_HASH_MAX)
    key_derivation_method = serializers.ChoiceField(choices=("passphrase", "passkey_prf"))
    passkey_credential_id = StrictCharField(
        max_length=PASSKEY_ID_MAX, validators=[base64_format], **OPTIONAL
    )
    passkey_prf_salt = StrictCharField(
        max_length=PASSKEY_SALT_MAX, validators=[base64_format], **OPTIONAL
    )


class EncryptionCredentialsInput(KeyCredentialsFields):
    """Settings may also (re)configure recovery: the ciphertext and its hash, together."""

    recovery_encrypted_key = StrictCharField(trim_whitespace=False, **OPTIONAL)
    recovery_key_hash = StrictCharField(
        max_length=64, validators=[recovery_hash_format], **OPTIONAL
    )


class EncryptionSettingsInput(serializers.Serializer):  # type: ignore[type-arg]
    newCredentials = EncryptionCredentialsInput()


class RecoverVerifyInput(serializers.Serializer):  # type: ignore[type-arg]
    email = StrictCharField(max_length=EMAIL_MAX)
    recoveryKey = recovery_key_field()

    def validate_recoveryKey(self, value: str) -> str:
        return check_recovery_key(value)


class RecoverCredentialsInput(KeyCredentialsFields):
    """Recovery resets the unlock method only; the recovery data stays as it is."""


class RecoverUpdateInput(serializers.Serializer):  # type: ignore[type-arg]
    email = StrictCharField(max_length=EMAIL_MAX)
    recoveryKey = recovery_key_field()
    newCredentials = RecoverCredentialsInput()

    def validate_recoveryKey(self, value: str) -> str:
        return check_recovery_key(value)


class RecoverUpdateRecoveryInput(serializers.Serializer):  # type: ignore[type-arg]
    email = StrictCharField(max_length=EMAIL_MAX)
    recoveryKey = recovery_key_field()
    newRecoveryEncryptedKey = ciphertext()
    newRecoveryKeyHash = StrictCharField(
        max_length=64, validators=[recovery_hash_format], **OPTIONAL
    )
    newRecoveryKey = StrictCharField(max_length=RECOVERY_KEY_MAX, trim_whitespace=False, **OPTIONAL)

    def validate_recoveryKey(self, value: str) -> str:
        return check_recovery_key(value)

    def validate_newRecoveryKey(self, value: str | None) -> str | None:
        return check_recovery_key(value) if value else None
