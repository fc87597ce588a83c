"""Session languages: ISO codes for transcription and the PDF, English names for AI prompts."""

from __future__ import annotations

from typing import Literal

Language = Literal["en", "cs", "de"]
LANGUAGES: tuple[Language, ...] = ("en", "cs", "de")
NAMES: dict[Language, str] = {"en": "English", "cs": "Czech", "de": "German"}
_ALIASES: dict[str, Language] = {
    "en": "en",
    "english": "en",
    "en-us": "en",
    "en-gb": "en",
    "cs": "cs",
    "cz": "cs",
    "czech": "cs",
    "cs-cz": "cs",
    "čeština": "cs",
    "de": "de",
    "german": "de",
    "de-de": "de",
    "deutsch": "de",
}


def language_code(value: object, default: Language = "en") -> Language:
    """The supported language a client value names ("czech", "cs", "cs-CZ"), else the default."""
    if not isinstance(value, str):
        return default
    return _ALIASES.get(value.strip().lower(), default)


def language_name(code: Language) -> str:
    return NAMES[code]
