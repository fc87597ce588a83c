"""The shared AI provider layer (imports, sessions, form scoring). See README.md here."""

from mediqom.ai.calls import (
    StructuredResult,
    ai_configured,
    localise,
    stream_chat,
    structured_call,
    transcribe,
)
from mediqom.ai.errors import AIError, AIProviderError, AIUnavailable
from mediqom.ai.local import local_override, register_local, unregister_local

__all__ = [
    "AIError",
    "AIProviderError",
    "AIUnavailable",
    "StructuredResult",
    "ai_configured",
    "local_override",
    "localise",
    "register_local",
    "stream_chat",
    "structured_call",
    "transcribe",
    "unregister_local",
]
