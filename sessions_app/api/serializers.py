"""Input serializers of the consultation endpoints (one per endpoint)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mediqom.api.fields import StrictCharField

# JSON bodies: text fields take strings only (a number is a 400, not quietly "0"), flags
# take true/false only (not 0 or "yes").


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class SessionStartInput(serializers.Serializer):  # type: ignore[type-arg]
    language = StrictCharField(required=False, default="en", max_length=32)
    models = serializers.ListField(
        child=StrictCharField(max_length=64), required=False, max_length=20
    )
    translate = StrictBooleanField(required=False, default=False)
    userId = StrictCharField(required=False, allow_blank=True)  # sent, ignored
    # Patient context the clinician supplies (used in prompts, stored encrypted only).
    patientContext = serializers.DictField(required=False)


class SessionEndInput(serializers.Serializer):  # type: ignore[type-arg]
    analyze = StrictBooleanField(required=False, default=True)


@extend_schema_field({"oneOf": [{"type": "string", "maxLength": 64}, {"type": "integer"}]})
class TimestampField(serializers.Field):  # type: ignore[type-arg]
    """The feedback's `timestamp`: the client's type for it is not pinned down (ISO text or
    epoch milliseconds), so both are accepted and kept as text; anything else is refused (a
    CharField would also have turned floats and booleans into text, against the schema)."""

    default_error_messages = {"invalid": "A timestamp must be a string or an integer."}

    def to_internal_value(self, data: Any) -> str:
        if isinstance(data, bool) or not isinstance(data, str | int):
            self.fail("invalid")
        text = str(data)
        if len(text) > 64:
            self.fail("invalid")
        return text

    def to_representation(self, value: Any) -> Any:
        return value


class FeedbackInput(serializers.Serializer):  # type: ignore[type-arg]
    itemType = StrictCharField(max_length=64)
    itemContent = serializers.JSONField()
    feedback = serializers.ChoiceField(choices=["approved", "rejected", "neutral"])
    timestamp = TimestampField(required=False, default="")
    sessionId = serializers.UUIDField(required=False, allow_null=True)


class MedSessionInput(serializers.Serializer):  # type: ignore[type-arg]
    text = StrictCharField(max_length=500_000, trim_whitespace=False)
    type = serializers.ChoiceField(choices=["transcript", "diagnosis"])
    language = StrictCharField(required=False, default="english", max_length=32)
    models = serializers.ListField(child=StrictCharField(max_length=64), required=False)
    previousAnalysis = serializers.DictField(required=False, allow_null=True)
    sessionId = serializers.UUIDField(required=False, allow_null=True)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict) and not str(data.get("text") or "").strip():
            raise serializers.ValidationError({"text": ["No text provided"]})
        return super().to_internal_value(data)


class FinalizeInput(serializers.Serializer):  # type: ignore[type-arg]
    text = StrictCharField(max_length=500_000)
    language = StrictCharField(required=False, default="english", max_length=32)
    sessionId = serializers.UUIDField(required=False, allow_null=True)


class ChatMessage(serializers.Serializer):  # type: ignore[type-arg]
    role = StrictCharField(max_length=32)
    content = StrictCharField(allow_blank=True, max_length=100_000)
    timestamp = serializers.JSONField(required=False)


class ChatInput(serializers.Serializer):  # type: ignore[type-arg]
    message = StrictCharField(max_length=50_000)
    mode = serializers.ChoiceField(choices=["patient", "clinical"])
    profileId = StrictCharField(max_length=64)
    conversationHistory = ChatMessage(many=True, required=False)
    language = StrictCharField(required=False, default="en", max_length=32)
    pageContext = serializers.DictField(required=False, allow_null=True)
    provider = StrictCharField(required=False, allow_null=True, allow_blank=True)
    assembledContext = serializers.JSONField(required=False, allow_null=True)
    availableTools = serializers.JSONField(required=False, allow_null=True)


# Multipart bodies, parsed by the views themselves; these describe them in the API schema.
class SessionTranscribeForm(serializers.Serializer):  # type: ignore[type-arg]
    audio = serializers.FileField()
    chunkId = serializers.CharField()
    sequenceNumber = serializers.IntegerField(required=False)
    timestamp = serializers.IntegerField(required=False)
    metadata = serializers.CharField(required=False, help_text="JSON AudioChunkMetadata")
    instructions = serializers.CharField(required=False, help_text='JSON {"lang", "translate"}')


class SessionAudioForm(serializers.Serializer):  # type: ignore[type-arg]
    audio = serializers.FileField()
    chunkId = serializers.CharField(required=False)
    timestamp = serializers.IntegerField(required=False)


class TranscribeForm(serializers.Serializer):  # type: ignore[type-arg]
    file = serializers.FileField()
    instructions = serializers.CharField(
        required=False, help_text='JSON {"lang", "translate", "prompt"}'
    )
