"""Optional OpenAI conversation state of a session: the reference's Assistants "thread"
(`hasOpenAIThread`), through the current Conversations API.

With `MEDIQOM_SESSION_OPENAI_CONVERSATIONS` and an OpenAI key for the `session_diagnosis`
flow, `POST /v1/session/start` creates one conversation (metadata: purpose, session id,
language, models; one opening item naming the language and models — no patient data, no user
id) and the session keeps its id; it is deleted when the session ends. Failures are logged
(code only) and leave the session without one, as the contract allows.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings

from mediqom.ai.config import candidates
from mediqom.logging import get_logger

log = get_logger("analysis")
FLOW = "session_diagnosis"
OPENING = (
    "Starting a new medical consultation session. Language: {language}. "
    "Active analysis models: {models}."
)


def _client() -> Any | None:
    if not settings.MEDIQOM_SESSION_OPENAI_CONVERSATIONS:
        return None
    _, chain = candidates(FLOW)
    for candidate in chain:
        if candidate.kind == "openai" and candidate.api_key:
            import openai

            return openai.OpenAI(
                api_key=candidate.api_key,
                base_url=candidate.base_url or None,
                timeout=candidate.timeout_s,
                max_retries=0,
            )
    return None


def conversation_create(*, session_id: UUID, language: str, models: list[str]) -> str:
    """A new conversation's id, or "" when not configured or the call failed."""
    client = _client()
    if client is None:
        return ""
    names = ",".join(models)[:512]
    try:
        conversation = client.conversations.create(
            metadata={
                "purpose": "medical_analysis",
                "session_id": str(session_id),
                "language": language,
                "models": names,
            },
            items=[
                {
                    "type": "message",
                    "role": "user",
                    "content": OPENING.format(language=language, models=names or "GP"),
                }
            ],
        )
    except Exception as exc:  # noqa: BLE001 - optional state: log the kind, go on without it
        log.warning("openai conversation not created (%s)", type(exc).__name__)
        return ""
    conversation_id = getattr(conversation, "id", "")
    return conversation_id[:128] if isinstance(conversation_id, str) else ""


def conversation_delete(conversation_id: str) -> bool:
    """Delete a session's conversation at OpenAI; False when it could not be deleted."""
    client = _client()
    if client is None or not conversation_id:
        return False
    try:
        client.conversations.delete(conversation_id)
    except Exception as exc:  # noqa: BLE001 - best effort; logged without the id
        log.warning("openai conversation not deleted (%s)", type(exc).__name__)
        return False
    return True
