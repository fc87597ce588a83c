"""`POST /v1/chat/conversation` (contract §2.7, §3.3): the answer streamed as SSE frames
`chunk` … `metadata` → `complete` (or one `error`), each frame one whole `data:` line.

Context comes from the client (`assembledContext`, `pageContext.documentsContent`): the server
holds no decrypted documents. Nothing of the conversation is stored or logged. With no AI
provider configured the offline `local` flow (`local_chat`) answers, labelled as such."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from mediqom.ai import AIError, stream_chat
from mediqom.logging import get_logger
from sessions_app.chat_context import (
    CONTEXT_HEADER,
    DOCUMENT_HEADER,
    TOOLS,
    anatomy_references,
    clarifying_questions,
    context_sources,
    document_references,
    local_answer,
    mentions_tools,
    retrieve,
    sources_from_messages,
    tool_calls,
)
from sessions_app.languages import language_code, language_name

log = get_logger("analysis")
MAX_HISTORY = 10
MAX_CONTEXT_CHARS = 60_000
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


def build_messages(data: dict[str, Any]) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """The chat messages for the model (each context block its own system message, headed
    `Medical context:` or `Document <id>:`) and what the metadata frame is made from."""
    language = language_code(data.get("language"))
    system = SYSTEM[data["mode"]].format(language=language_name(language))
    sources = context_sources(data)
    messages = [{"role": "system", "content": system}]
    budget = MAX_CONTEXT_CHARS
    for source in sources:
        header = CONTEXT_HEADER if source.doc_id is None else DOCUMENT_HEADER.format(source.doc_id)
        if budget <= len(header) + 1:
            break
        block = f"{header}\n{source.text}"[:budget]
        budget -= len(block)
        messages.append({"role": "system", "content": block})
    for item in (data.get("conversationHistory") or [])[-MAX_HISTORY:]:
        role = "assistant" if item.get("role") == "assistant" else "user"
        messages.append({"role": role, "content": str(item.get("content", ""))})
    messages.append({"role": "user", "content": data["message"]})
    tools = data.get("availableTools")
    facts = {
        "mode": data["mode"],
        "language": language,
        "sources": sources,
        "availableTools": tools if isinstance(tools, list) else list(TOOLS),
    }
    return messages, facts


def metadata(data: dict[str, Any], facts: dict[str, Any], answer: str) -> dict[str, Any]:
    """The `metadata` frame's data (contract §3.3), from what the answer rests on: the
    matching passages' documents, the body parts named, a clarifying question when the
    question matched none of several documents, a search request when no context came."""
    sources = facts["sources"]
    question = data["message"]
    language = facts["language"]
    retrieval = retrieve(question, sources)
    available = bool(sources)
    calls = tool_calls(
        question=question,
        context_available=available,
        tools=facts["availableTools"],
        language=language,
    )
    return {
        "anatomyReferences": anatomy_references(question, answer),
        "documentReferences": document_references(retrieval, sources, answer),
        "consentRequests": [],
        "toolCalls": calls,
        "clarifyingQuestions": clarifying_questions(
            retrieval=retrieval, sources=sources, question=question, language=language
        ),
        "tokenUsage": 0,
        "mode": data["mode"],
        "contextAvailable": available,
        "documentCount": len({s.doc_id for s in sources if s.doc_id}),
        "contextConfidence": retrieval.coverage,
        "availableTools": facts["availableTools"],
        "debugInfo": {
            "mentionsTools": mentions_tools(answer),
            "hasToolCalls": bool(calls),
            "hasAvailableTools": bool(facts["availableTools"]),
        },
    }


def chat_frames(data: dict[str, Any]) -> Iterator[bytes]:
    """The whole SSE body. A provider failure mid-answer ends with one `error` frame."""
    messages, facts = build_messages(data)
    answer: list[str] = []
    try:
        for delta in stream_chat(flow=flow_for(data["mode"]), messages=messages):
            if delta:
                answer.append(delta)
                yield frame({"type": "chunk", "content": delta})
    except AIError as exc:
        log.warning("chat failed (%s)", exc.code)
        yield frame({"type": "error", "message": "Failed to process AI request"})
        return
    yield frame({"type": "metadata", "data": metadata(data, facts, "".join(answer))})
    yield frame({"type": "complete"})


def local_chat(*, messages: list[dict[str, Any]], mode: str) -> list[str]:
    """The offline `local` chat flow (registered for both chat flows): a labelled answer
    quoting the supplied context's passages that match the question, or saying there are
    none. The language comes from the system prompt `build_messages` wrote."""
    first = str(messages[0].get("content", "")) if messages else ""
    match = re.search(r"Answer in (\w+)\.$", first)
    language = language_code(match.group(1) if match else "en")
    question = next(
        (str(m.get("content", "")) for m in reversed(messages) if m.get("role") == "user"), ""
    )
    sources = sources_from_messages(messages)
    return local_answer(
        mode=mode,
        language=language,
        retrieval=retrieve(question, sources),
        context_available=bool(sources),
    )
