"""Provider adapters: one forced function call, a text stream, a transcription.

OpenAI and any OpenAI-compatible server go through LangChain's ChatOpenAI (`bind_tools` with
a forced `tool_choice`); Gemini through `google-genai` (function calling mode ANY limited to
the one function). The client libraries' own retries are off: the caller retries and falls
back (mediqom.ai.calls), so every attempt has exactly the configured timeout.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mediqom.ai.config import Candidate

Content = str | list[dict[str, Any]]


@dataclass(frozen=True)
class RawResult:
    arguments: Any
    token_usage: int


class AttemptError(Exception):
    """One failed attempt: `code` is ai_timeout, ai_provider_error or ai_invalid_output."""

    def __init__(self, code: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.retryable = retryable
        self.status = status


_RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


def _is_timeout(exc: BaseException) -> bool:
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"APITimeoutError", "TimeoutException", "TimeoutError", "ReadTimeout"})


def classify(exc: BaseException) -> AttemptError:
    """Map a client library's exception to an AttemptError (no message carried over)."""
    if isinstance(exc, AttemptError):
        return exc
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _is_timeout(current):
            return AttemptError("ai_timeout", retryable=True)
        current = current.__cause__ or current.__context__
    status = getattr(exc, "status_code", None)
    if status is None:
        code = getattr(exc, "code", None)
        status = code if isinstance(code, int) else None
    if isinstance(status, int):
        return AttemptError(
            "ai_provider_error", retryable=status in _RETRYABLE_STATUS, status=status
        )
    # Connection failures and anything unexpected from the network stack are transient.
    return AttemptError("ai_provider_error", retryable=True)


# ---------------------------------------------------------------- OpenAI (+ compatible)

_clients_lock = threading.Lock()
_chat_models: dict[tuple[Any, ...], Any] = {}
_gemini_clients: dict[tuple[Any, ...], Any] = {}
_openai_clients: dict[tuple[Any, ...], Any] = {}


def _chat_model(candidate: Candidate, *, streaming: bool = False) -> Any:
    from langchain_openai import ChatOpenAI

    key = (
        candidate.base_url,
        candidate.api_key,
        candidate.model_id,
        candidate.timeout_s,
        candidate.max_tokens,
        candidate.temperature,
        streaming,
    )
    with _clients_lock:
        model = _chat_models.get(key)
        if model is None:
            kwargs: dict[str, Any] = {
                "model": candidate.model_id,
                # Compatible servers without a key still need a non-empty string.
                "api_key": candidate.api_key or "not-needed",
                "timeout": candidate.timeout_s,
                "max_retries": 0,
                "temperature": candidate.temperature,
                "use_responses_api": False,
                "streaming": streaming,
            }
            if streaming:
                kwargs["stream_usage"] = True
            if candidate.base_url:
                kwargs["base_url"] = candidate.base_url
            if candidate.max_tokens:
                kwargs["max_tokens"] = candidate.max_tokens
            model = ChatOpenAI(**kwargs)
            _chat_models[key] = model
    return model


def _lc_messages(system: str, content: Content) -> list[Any]:
    from langchain_core.messages import HumanMessage, SystemMessage

    return [SystemMessage(content=system), HumanMessage(content=content)]  # type: ignore[arg-type]


def _usage_total(message: Any) -> int:
    usage = getattr(message, "usage_metadata", None) or {}
    return int(usage.get("total_tokens") or 0)


def openai_function_call(
    candidate: Candidate, *, function: dict[str, Any], system: str, content: Content
) -> RawResult:
    """One forced tool call through ChatOpenAI; the tool's arguments as parsed JSON."""
    name = function["name"]
    tool = {
        "type": "function",
        "function": {
            "name": name,
            "description": function.get("description", ""),
            "parameters": function.get("parameters") or {"type": "object", "properties": {}},
        },
    }
    model = _chat_model(candidate).bind_tools([tool], tool_choice=name)
    try:
        message = model.invoke(_lc_messages(system, content))
    except Exception as exc:  # noqa: BLE001 - every client failure is classified
        raise classify(exc) from None
    calls = [c for c in getattr(message, "tool_calls", []) if c.get("name") == name]
    if not calls:
        raise AttemptError("ai_invalid_output", retryable=True)
    return RawResult(arguments=calls[0].get("args"), token_usage=_usage_total(message))


def _lc_chat(messages: list[dict[str, Any]]) -> list[Any]:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    out: list[Any] = []
    for message in messages:
        role, text = message.get("role"), message.get("content", "")
        if role == "system":
            out.append(SystemMessage(content=text))
        elif role == "assistant":
            out.append(AIMessage(content=text))
        else:
            out.append(HumanMessage(content=text))
    return out


def openai_stream(candidate: Candidate, *, messages: list[dict[str, Any]]) -> Iterator[str]:
    """Text deltas of a streamed chat completion."""
    model = _chat_model(candidate, streaming=True)
    try:
        for chunk in model.stream(_lc_chat(messages)):
            text = chunk.content if isinstance(chunk.content, str) else ""
            if text:
                yield text
    except Exception as exc:  # noqa: BLE001
        raise classify(exc) from None


def _openai_client(candidate: Candidate) -> Any:
    import openai

    key = (candidate.base_url, candidate.api_key, candidate.timeout_s)
    with _clients_lock:
        client = _openai_clients.get(key)
        if client is None:
            kwargs: dict[str, Any] = {
                "api_key": candidate.api_key or "not-needed",
                "timeout": candidate.timeout_s,
                "max_retries": 0,
            }
            if candidate.base_url:
                kwargs["base_url"] = candidate.base_url
            client = openai.OpenAI(**kwargs)
            _openai_clients[key] = client
    return client


def openai_transcribe(
    candidate: Candidate,
    *,
    audio: bytes,
    filename: str,
    mime: str,
    language: str | None,
    prompt: str | None,
) -> str:
    """The transcript of one audio file (audio.transcriptions, response_format text)."""
    kwargs: dict[str, Any] = {
        "model": candidate.model_id,
        "file": (filename, audio, mime),
        "response_format": "text",
        "temperature": candidate.temperature,
    }
    if language:
        kwargs["language"] = language
    if prompt:
        kwargs["prompt"] = prompt
    try:
        result = _openai_client(candidate).audio.transcriptions.create(**kwargs)
    except Exception as exc:  # noqa: BLE001
        raise classify(exc) from None
    text = result if isinstance(result, str) else getattr(result, "text", None)
    if not isinstance(text, str):
        raise AttemptError("ai_invalid_output", retryable=True)
    return text.strip()


# ---------------------------------------------------------------- Gemini


def _gemini_client(candidate: Candidate) -> Any:
    from google import genai
    from google.genai import types

    key = (candidate.base_url, candidate.api_key, candidate.timeout_s)
    with _clients_lock:
        client = _gemini_clients.get(key)
        if client is None:
            options = types.HttpOptions(
                timeout=int(candidate.timeout_s * 1000),
                base_url=candidate.base_url or None,
            )
            client = genai.Client(api_key=candidate.api_key, http_options=options)
            _gemini_clients[key] = client
    return client


def _gemini_parts(content: Content) -> list[Any]:
    from google.genai import types

    if isinstance(content, str):
        return [types.Part.from_text(text=content)]
    parts: list[Any] = []
    for part in content:
        if part.get("type") == "text":
            parts.append(types.Part.from_text(text=str(part.get("text", ""))))
        elif part.get("type") == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str):
                continue
            if url.startswith("data:") and "," in url:
                header, payload = url.split(",", 1)
                mime = header[5:].split(";", 1)[0] or "image/png"
                try:
                    data = base64.b64decode(payload, validate=False)
                except (binascii.Error, ValueError):
                    raise AttemptError("ai_invalid_input", retryable=False) from None
                parts.append(types.Part.from_bytes(data=data, mime_type=mime))
            else:
                parts.append(types.Part.from_uri(file_uri=url, mime_type="image/jpeg"))
    return parts


def _gemini_usage(response: Any) -> int:
    usage = getattr(response, "usage_metadata", None)
    return int(getattr(usage, "total_token_count", 0) or 0)


def gemini_function_call(
    candidate: Candidate, *, function: dict[str, Any], system: str, content: Content
) -> RawResult:
    """One forced function call through google-genai; the call's arguments."""
    from google.genai import types

    name = function["name"]
    config = types.GenerateContentConfig(
        system_instruction=system,
        temperature=candidate.temperature,
        max_output_tokens=candidate.max_tokens,
        tools=[
            types.Tool(
                function_declarations=[
                    types.FunctionDeclaration(
                        name=name,
                        description=function.get("description", ""),
                        parameters_json_schema=function.get("parameters") or {"type": "object"},
                    )
                ]
            )
        ],
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(
                mode=types.FunctionCallingConfigMode.ANY, allowed_function_names=[name]
            )
        ),
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    try:
        response = _gemini_client(candidate).models.generate_content(
            model=candidate.model_id,
            contents=[types.Content(role="user", parts=_gemini_parts(content))],
            config=config,
        )
    except AttemptError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise classify(exc) from None
    calls = [c for c in (response.function_calls or []) if c.name == name]
    if not calls:
        raise AttemptError("ai_invalid_output", retryable=True)
    return RawResult(arguments=dict(calls[0].args or {}), token_usage=_gemini_usage(response))


def gemini_stream(candidate: Candidate, *, messages: list[dict[str, Any]]) -> Iterator[str]:
    """Text deltas of a streamed Gemini answer."""
    from google.genai import types

    system = "\n\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "system")
    contents = [
        types.Content(
            role="model" if m.get("role") == "assistant" else "user",
            parts=[types.Part.from_text(text=str(m.get("content", "")))],
        )
        for m in messages
        if m.get("role") != "system"
    ]
    config = types.GenerateContentConfig(
        system_instruction=system or None,
        temperature=candidate.temperature,
        max_output_tokens=candidate.max_tokens,
    )
    try:
        for chunk in _gemini_client(candidate).models.generate_content_stream(
            model=candidate.model_id, contents=contents, config=config
        ):
            text = chunk.text
            if text:
                yield text
    except Exception as exc:  # noqa: BLE001
        raise classify(exc) from None


def arguments_json(raw: Any) -> Any:
    """Tool arguments that arrived as a JSON string are parsed (some servers send strings)."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            raise AttemptError("ai_invalid_output", retryable=True) from None
    return raw
