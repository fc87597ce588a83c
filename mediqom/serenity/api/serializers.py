"""Input of POST /v1/serenity/analyze."""

from __future__ import annotations

from rest_framework import serializers

from mediqom.api.fields import StrictCharField
from mediqom.serenity.forms import FORM_TYPES

# A spoken observation is a few hundred words; this bounds what is sent to a model.
MAX_TRANSCRIPT_CHARS = 20_000
# The client sends ISO codes ("en", "cs", "de"); the AI layer takes language names.
LANGUAGES = {"en": "English", "cs": "Czech", "de": "German"}


class SerenityAnalyzeInput(serializers.Serializer):  # type: ignore[type-arg]
    """`{transcript, formType: "pre"|"post", language?: "en"|"cs"|"de"}` (default English)."""

    transcript = StrictCharField(max_length=MAX_TRANSCRIPT_CHARS)
    formType = serializers.ChoiceField(choices=FORM_TYPES)
    language = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=16, default=None
    )

    def validate_language(self, value: str | None) -> str:
        if not value:
            return LANGUAGES["en"]
        folded = value.strip().casefold()
        for code, name in LANGUAGES.items():
            # "cs", "cs-CZ", "czech", "Czech" all mean Czech.
            if folded.split("-")[0].split("_")[0] == code or folded == name.casefold():
                return name
        raise serializers.ValidationError('language must be "en", "cs" or "de"')
