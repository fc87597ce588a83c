"""Input serializers of the records endpoints (one per operation, never reused for output)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from mediqom.records.models import DOCUMENT_TYPES

# Ciphertext and PEM strings are stored verbatim: no trimming, any length.
Cipher = dict[str, Any]


def ciphertext(**kwargs: Any) -> serializers.CharField:
    return serializers.CharField(trim_whitespace=False, allow_blank=False, **kwargs)


class OnboardingKeyInput(serializers.Serializer):  # type: ignore[type-arg]
    key = ciphertext()


class OnboardingDocumentInput(serializers.Serializer):  # type: ignore[type-arg]
    type = serializers.ChoiceField(choices=DOCUMENT_TYPES)
    metadata = ciphertext()
    content = serializers.CharField(trim_whitespace=False, allow_blank=True, required=False,
                                    allow_null=True)
    keys = OnboardingKeyInput(many=True, allow_empty=False)


class OnboardingInput(serializers.Serializer):  # type: ignore[type-arg]
    fullName = serializers.CharField(max_length=500)  # noqa: N815 - client's JSON key
    publicKey = ciphertext()  # noqa: N815
    privateKey = ciphertext()  # noqa: N815
    key_hash = serializers.CharField(max_length=200)
    avatarUrl = serializers.CharField(  # noqa: N815
        max_length=2000, required=False, allow_null=True, allow_blank=True
    )
    language = serializers.CharField(max_length=16, required=False, allow_null=True,
                                     allow_blank=True)
    subscription = serializers.CharField(max_length=32, required=False, allow_null=True,
                                         allow_blank=True)
    passphrase = serializers.CharField(required=False, allow_null=True, trim_whitespace=False,
                                       max_length=1024)
    documents = OnboardingDocumentInput(many=True, required=False)

    def validate_documents(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        seen: set[str] = set()
        for document in value:
            if document["type"] in ("profile", "health"):
                if document["type"] in seen:
                    raise serializers.ValidationError("Document already exists")
                seen.add(document["type"])
        return value
