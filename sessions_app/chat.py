"""`POST /v1/chat/conversation` (contract §2.7, §3.3): the answer streamed as SSE frames
`chunk` … `metadata` → `complete` (or one `error`), each frame one whole `data:` line.

Context comes from the client (`assembledContext`, `pageContext.documentsContent`): the server
holds no decrypted documents. Nothing of the conversation is stored or logged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from mediqom.ai import AIError, stream_chat
from mediqom.logging import get_logger
from sessions_app.languages import language_code, language_name

log = get_logger("analysis")
MAX_HISTORY = 10
MAX_CONTEXT_CHARS = 60_000
TOOLS = ["searchDocuments", "getAssembledContext", "getProfileData", "queryMedicalHistory",
         "getDocumentById"]  # fmt: skip
SYSTEM = {
    "patient": (
        "You are a careful medical assistant talking with a patient about their own health "
        "records. Explain in plain words, never diagnose with certainty, and advise seeing a "
        "doctor for anything urgent. Answer in {language}."
    ),
    "clinical": (
        "You are a clinical decision-support assistant for a physician. Be precise and concise, "
        "cite the provided records where relevant, and flag uncertainty. Answer in {language}."
    ),
}


def flow_for(mode: str) -> str:
    return "ai_chat_clinical" if mode == "clinical" else "ai_chat_patient"


def frame(payload: dict[str, Any]) -> bytes:
    """One SSE frame: `data: <compact JSON>` and the blank line, written in one piece."""
    return (
        b"data: "
        + json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        + b"\n\n"
    )


def _documents(page_context: dict[str, Any] | None) -> list[tuple[str, str]]:
    docs = (page_context or {}).get("documentsContent") or []
    out = []
    for entry in docs if isinstance(docs, list) else []:
        if isinstance(entry, list | tuple) and len(entry) == 2:
            content = entry[1] if isinstance(entry[1], str) else json.dumps(entry[1])
            out.append((str(entry[0]), content))
    return out


def build_messages(data: dict[str, Any]) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """The chat messages for the model and facts for the metadata frame."""
    language = language_name(language_code(data.get("language")))
    system = SYSTEM[data["mode"]].format(language=language)
    context_parts = []
    assembled = data.get("assembledContext")
    if assembled:
        context_parts.append(
            "Medical context:\n"
            + (
                assembled
                if isinstance(assembled, str)
                else json.dumps(assembled, ensure_ascii=False)
            )
        )
    documents = _documents(data.get("pageContext"))
    for doc_id, content in documents:
        context_parts.append(f"Document {doc_id}:\n{content}")
    context = "\n\n".join(context_parts)[:MAX_CONTEXT_CHARS]
    messages = [{"role": "system", "content": system}]
    if context:
        messages.append({"role": "system", "content": context})
    for item in (data.get("conversationHistory") or [])[-MAX_HISTORY:]:
        role = "assistant" if item.get("role") == "assistant" else "user"
        messages.append({"role": role, "content": str(item.get("content", ""))})
    messages.append({"role": "user", "content": data["message"]})
    tools = data.get("availableTools")
    facts = {
        "mode": data["mode"],
        "contextAvailable": bool(context),
        "documentCount": len(documents),
        "contextConfidence": 1.0 if context else 0.0,
        "availableTools": tools if isinstance(tools, list) else TOOLS,
    }
    return messages, facts


def chat_frames(data: dict[str, Any]) -> Iterator[bytes]:
    """The whole SSE body. A provider failure mid-answer ends with one `error` frame."""
    messages, facts = build_messages(data)
    answer_chars = 0
    try:
        for delta in stream_chat(flow=flow_for(data["mode"]), messages=messages):
            if delta:
                answer_chars += len(delta)
                yield frame({"type": "chunk", "content": delta})
    except AIError as exc:
        log.warning("chat failed (%s)", exc.code)
        yield frame({"type": "error", "message": "Failed to process AI request"})
        return
    yield frame(
        {
            "type": "metadata",
            "data": {
                "anatomyReferences": [],
                "documentReferences": [],
                "consentRequests": [],
                "toolCalls": [],
                "clarifyingQuestions": [],
                "tokenUsage": 0,
                **facts,
                "debugInfo": {
                    "mentionsTools": False,
                    "hasToolCalls": False,
                    "hasAvailableTools": bool(facts["availableTools"]),
                },
            },
        }
    )
    yield frame({"type": "complete"})
