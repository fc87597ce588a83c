"""Input serializers of the records endpoints (one per operation, never reused for output)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mediqom.api.fields import StrictCharField
from mediqom.records.models import DOCUMENT_TYPES, LANGUAGES

# Ciphertext and PEM strings are stored verbatim: no trimming, any length.
Cipher = dict[str, Any]


def ciphertext(**kwargs: Any) -> serializers.CharField:
    return StrictCharField(trim_whitespace=False, allow_blank=False, **kwargs)


class OnboardingKeyInput(serializers.Serializer):  # type: ignore[type-arg]
    key = ciphertext()


class OnboardingDocumentInput(serializers.Serializer):  # type: ignore[type-arg]
    type = serializers.ChoiceField(choices=DOCUMENT_TYPES)
    metadata = ciphertext()
    content = StrictCharField(
        trim_whitespace=False, allow_blank=True, required=False, allow_null=True
    )
    keys = OnboardingKeyInput(many=True, allow_empty=False)


class OnboardingInput(serializers.Serializer):  # type: ignore[type-arg]
    fullName = StrictCharField(max_length=500)
    publicKey = ciphertext()
    privateKey = ciphertext()
    key_hash = StrictCharField(max_length=200)
    avatarUrl = StrictCharField(max_length=2000, required=False, allow_null=True, allow_blank=True)
    language = StrictCharField(max_length=16, required=False, allow_null=True, allow_blank=True)
    subscription = StrictCharField(max_length=32, required=False, allow_null=True, allow_blank=True)
    passphrase = StrictCharField(
        required=False, allow_null=True, trim_whitespace=False, max_length=1024
    )
    documents = OnboardingDocumentInput(many=True, required=False)

    def validate_documents(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        seen: set[str] = set()
        for document in value:
            if document["type"] in ("profile", "health"):
                if document["type"] in seen:
                    raise serializers.ValidationError("Document already exists")
                seen.add(document["type"])
        return value


class ProfileCreateInput(serializers.Serializer):  # type: ignore[type-arg]
    fullName = StrictCharField(max_length=500)
    language = StrictCharField(max_length=16, required=False, allow_null=True, allow_blank=True)
    publicKey = ciphertext()
    privateKey = ciphertext()
    key_hash = StrictCharField(max_length=200)
    key_pass = StrictCharField(
        max_length=1024, required=False, allow_null=True, trim_whitespace=False
    )


class ProfileRenameInput(serializers.Serializer):  # type: ignore[type-arg]
    fullName = StrictCharField(
        max_length=500,
        error_messages={
            "required": "Invalid fullName",
            "blank": "Invalid fullName",
            "invalid": "Invalid fullName",
            "null": "Invalid fullName",
        },
    )


@extend_schema_field(
    {"oneOf": [{"type": "string"}, {"type": "object", "additionalProperties": True}]}
)
class AttachmentRefField(serializers.Field):  # type: ignore[type-arg]
    """An `attachments` item: a URL/path string or a `{url, path}` object."""

    default_error_messages = {"invalid": "An attachment must be a string or an object."}

    def to_internal_value(self, data: Any) -> str | dict[str, Any]:
        if isinstance(data, str) and 0 < len(data) <= 4096:
            return data
        if isinstance(data, dict) and all(isinstance(key, str) for key in data):
            return data
        self.fail("invalid")
        raise AssertionError  # unreachable: fail() raises

    def to_representation(self, value: Any) -> Any:
        return value


def _attachments() -> serializers.ListField:
    return serializers.ListField(
        child=AttachmentRefField(), required=False, allow_null=True, max_length=200
    )


class DocumentKeyInput(serializers.Serializer):  # type: ignore[type-arg]
    user_id = serializers.UUIDField()
    owner_id = serializers.UUIDField(required=False, allow_null=True)
    key = ciphertext()


class DocumentCreateInput(serializers.Serializer):  # type: ignore[type-arg]
    type = serializers.ChoiceField(
        choices=DOCUMENT_TYPES, error_messages={"invalid_choice": "Invalid document type"}
    )
    metadata = ciphertext()
    content = StrictCharField(
        trim_whitespace=False, allow_blank=True, required=False, allow_null=True
    )
    attachments = _attachments()
    keys = DocumentKeyInput(
        many=True,
        allow_empty=False,
        error_messages={
            "empty": "Invalid keys - keys must be a non-empty array",
            "not_a_list": "Invalid keys - keys must be a non-empty array",
            "required": "Invalid keys - keys must be a non-empty array",
            "null": "Invalid keys - keys must be a non-empty array",
        },
    )


class DocumentUpdateInput(serializers.Serializer):  # type: ignore[type-arg]
    metadata = ciphertext()
    content = ciphertext()
    attachments = _attachments()


class AttachmentUploadInput(serializers.Serializer):  # type: ignore[type-arg]
    # No max_length: an oversized file is a 413 from the service, not a 400.
    file = ciphertext()


class AvatarUploadInput(serializers.Serializer):  # type: ignore[type-arg]
    file = StrictCharField(trim_whitespace=False)
    filename = StrictCharField(max_length=128)
    type = StrictCharField(max_length=100, required=False, allow_blank=True, allow_null=True)


class LanguageInput(serializers.Serializer):  # type: ignore[type-arg]
    language = serializers.ChoiceField(choices=LANGUAGES)
