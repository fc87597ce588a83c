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


def _local_chat_patient(*, messages: list[dict[str, Any]]) -> list[str]:
    from sessions_app.chat import local_chat

    return local_chat(messages=messages, mode="patient")


def _local_chat_clinical(*, messages: list[dict[str, Any]]) -> list[str]:
    from sessions_app.chat import local_chat

    return local_chat(messages=messages, mode="clinical")


def open_session_stream(user: Any, session_id: str) -> Any:
    """`GET /v1/session/{id}/stream` served on ASGI in front of Django (mediqom.streams.asgi):
    the caller's session (else the 404 envelope), then its stream with `session_status`
    sent first, unstored."""
    from uuid import UUID

    from mediqom.errors import NotFound
    from mediqom.streams.asgi import StreamSpec
    from sessions_app import events, selectors

    try:
        sid = UUID(session_id)
    except ValueError:
        raise NotFound("Session not found", code="session_not_found") from None
    session = selectors.session_get(user=user, session_id=sid)
    return StreamSpec(
        key=events.stream_key(session.id),
        initial=lambda: [selectors.session_connected_event(user=user, session_id=session.id)],
    )


class SessionsAppConfig(AppConfig):
    name = "sessions_app"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The offline provider of the session flows, for any caller of mediqom.ai. Our own
        # analysis calls the rules directly to keep their transcript evidence.
        from mediqom.ai import register_local

        register_local("session_transcript_analysis", _local_transcript)
        register_local("session_diagnosis", _local_diagnosis)
        register_local("ai_chat_patient", _local_chat_patient)
        register_local("ai_chat_clinical", _local_chat_clinical)
        from mediqom.streams.asgi import StreamRoute, stream_routes

        stream_routes.append(
            StreamRoute(
                r"^/v1/session/(?P<session_id>[0-9a-fA-F-]{36})/stream/?$", open_session_stream
            )
        )
