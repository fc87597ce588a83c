"""Transcription guards (contract §2.2, §8.6): what audio we accept, the medical prompt, and
the prompt-echo guard. Pure functions; the provider call itself is mediqom.ai.transcribe()."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from mediqom.errors import InvalidInput, PayloadTooLarge

# The reference's allow-list for POST /v1/transcribe (OpenAI's supported containers).
SUPPORTED_MIME_TYPES = (
    "audio/flac",
    "audio/m4a",
    "audio/x-m4a",
    "audio/mp3",
    "audio/mpeg",
    "audio/mp4",
    "video/mp4",
    "audio/oga",
    "audio/ogg",
    "audio/wav",
    "audio/x-wav",
    "audio/webm",
)
MEDICAL_PROMPT = (
    "This is a medical consultation recording. Please transcribe the conversation exactly as "
    "spoken in its original language - do NOT translate it. The conversation typically involves "
    "a doctor asking about symptoms and the patient responding. Multiple speakers (doctors, "
    "nurses, patients) may be present. Preserve all medical terminology in the original language."
)
TRANSLATE_PROMPT = (
    "This is a medical consultation recording. Please transcribe AND translate the conversation "
    "to English. Maintain medical accuracy and use appropriate English medical terminology."
)
DEFAULT_CONFIDENCE = 0.8


@dataclass(frozen=True)
class Instructions:
    """What the client asked for: language code, translate, an optional own prompt."""

    lang: str = "en"
    translate: bool = False
    prompt: str | None = None


def base_mime(content_type: str | None) -> str:
    """`audio/webm;codecs=opus` -> `audio/webm`."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def check_audio(*, content_type: str | None, size: int, allow_any_audio: bool = False) -> str:
    """The audio's MIME type if we accept it; else a 400 (type) or 413 (over the cap).

    `/v1/transcribe` uses the allow-list; the session routes pass `allow_any_audio` (the
    reference accepted any type containing "audio" there)."""
    mime = base_mime(content_type)
    allowed = mime.startswith("audio/") if allow_any_audio else mime in SUPPORTED_MIME_TYPES
    if not allowed:
        raise InvalidInput(
            f"Invalid file type: {mime or 'unknown'}. Supported: {', '.join(SUPPORTED_MIME_TYPES)}",
            code="unsupported_audio_type",
            fields={"file": ["unsupported type"]},
        )
    if size <= 0:
        raise InvalidInput("The audio file is empty", code="empty_audio")
    limit = int(settings.MEDIQOM_TRANSCRIBE_MAX_BYTES)
    if size > limit:
        raise PayloadTooLarge(f"Audio exceeds {limit // (1024 * 1024)} MB", code="audio_too_large")
    return mime


def parse_instructions(
    raw: Any, *, default_lang: str = "en", translate: bool = False
) -> Instructions:
    """The multipart `instructions` JSON merged over the defaults; bad JSON keeps the defaults
    (as the reference did), bad field types are a 400."""
    import json

    data: dict[str, Any] = {}
    if isinstance(raw, str) and raw.strip():
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = {}
        if isinstance(parsed, dict):
            data = parsed
    lang = data.get("lang", default_lang)
    translate_value = data.get("translate", translate)
    prompt = data.get("prompt")
    if not isinstance(lang, str) or not lang.strip() or len(lang) > 16:
        raise InvalidInput("instructions.lang must be a language code", code="invalid_instructions")
    if not isinstance(translate_value, bool):
        raise InvalidInput("instructions.translate must be a boolean", code="invalid_instructions")
    if prompt is not None and (not isinstance(prompt, str) or len(prompt) > 2000):
        raise InvalidInput(
            "instructions.prompt must be a short string", code="invalid_instructions"
        )
    return Instructions(lang=lang.strip().lower(), translate=translate_value, prompt=prompt or None)


def prompt_for(instructions: Instructions) -> str:
    """The client's own prompt, else the medical-context prompt (or its translate variant)."""
    if instructions.prompt:
        return instructions.prompt
    return TRANSLATE_PROMPT if instructions.translate else MEDICAL_PROMPT


def strip_prompt_echo(text: str, prompt: str | None) -> str:
    """Models sometimes 'transcribe' their prompt; drop it when the output starts with it."""
    text = (text or "").strip()
    if prompt:
        echo = prompt.strip()
        if echo and text.startswith(echo):
            return text[len(echo) :].strip()
    return text
