from __future__ import annotations

from typing import Any

from django.apps import AppConfig


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(str(part.get("text", "")) for part in content or [] if isinstance(part, dict))


def _local_transcript(*, schema: Any, system: Any, content: Any, language: str) -> dict[str, Any]:
    from sessions_app import analysis, local_analysis
    from sessions_app.languages import language_code

    segments = analysis.segments_from_text(_text(content))
    return local_analysis.analyze_transcript(segments, language=language_code(language))


def _local_diagnosis(*, schema: Any, system: Any, content: Any, language: str) -> dict[str, Any]:
    from sessions_app import analysis, local_analysis
    from sessions_app.languages import language_code

    segments = analysis.segments_from_text(_text(content))
    return local_analysis.analyze_diagnosis(segments, language=language_code(language))


class SessionsAppConfig(AppConfig):
    name = "sessions_app"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The offline provider of the session flows, for any caller of mediqom.ai. Our own
        # analysis calls the rules directly to keep their transcript evidence.
        from mediqom.ai import register_local

        register_local("session_transcript_analysis", _local_transcript)
        register_local("session_diagnosis", _local_diagnosis)
