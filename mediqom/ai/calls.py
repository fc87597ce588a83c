"""The AI layer's entry points: structured_call, stream_chat, transcribe.

Each walks the flow's candidates (primary model, fallback models, fallback providers; see
config/ai-models.yaml), retrying retryable failures with backoff, and raises AIProviderError
when all fail or AIUnavailable when nothing is configured. Logs carry provider, model and
error code only, never prompts, documents or keys.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from mediqom.ai import providers
from mediqom.ai.config import Candidate, candidates, local_allowed
from mediqom.ai.errors import AIProviderError, AIUnavailable
from mediqom.ai.local import local_function
from mediqom.ai.schema import SchemaError, validate_output
from mediqom.errors import ApiError

logger = logging.getLogger("mediqom.analysis")

Content = str | list[dict[str, Any]]
T = TypeVar("T")


@dataclass(frozen=True)
class StructuredResult:
    data: dict[str, Any]
    provider: str
    model: str
    token_usage: int
    labelled_local: bool


def localise(value: Any, language: str) -> Any:
    """The `[LANGUAGE]` placeholder replaced everywhere in a schema or prompt."""
    if isinstance(value, str):
        return value.replace("[LANGUAGE]", language)
    if isinstance(value, list):
        return [localise(item, language) for item in value]
    if isinstance(value, dict):
        return {key: localise(item, language) for key, item in value.items()}
    return value


def ai_configured(flow: str) -> bool:
    """Whether a call for the flow can run (a configured provider or a local function)."""
    _, remote = candidates(flow)
    return bool(remote) or (local_allowed(flow) and local_function(flow) is not None)


def _run_chain(
    flow: str, chain: list[Candidate], attempt: Callable[[Candidate], T]
) -> tuple[Candidate, T]:
    tried: list[tuple[str, str, str]] = []
    last_code = "ai_provider_error"
    for candidate in chain:
        for number in range(1 + max(candidate.max_retries, 0)):
            try:
                return candidate, attempt(candidate)
            except SchemaError as exc:
                # The message names the JSON path that failed, never a value.
                logger.info("ai output rejected flow=%s where=%s", flow, exc)
                error = providers.AttemptError("ai_invalid_output", retryable=True)
            except providers.AttemptError as exc:
                error = exc
            tried.append((candidate.provider, candidate.model_id, error.code))
            last_code = error.code
            logger.warning(
                "ai attempt failed flow=%s provider=%s model=%s code=%s status=%s try=%d",
                flow,
                candidate.provider,
                candidate.model_id,
                error.code,
                error.status,
                number + 1,
            )
            if not error.retryable:
                break
            if number < candidate.max_retries and candidate.retry_backoff_s > 0:
                time.sleep(candidate.retry_backoff_s * (2**number))
    raise AIProviderError(
        "The AI provider failed: " + _reason(last_code), code=last_code, attempts=tried
    )


def _reason(code: str) -> str:
    return {
        "ai_timeout": "no answer within the timeout",
        "ai_invalid_output": "the answer did not fit the expected structure",
        "ai_invalid_input": "the input could not be sent",
    }.get(code, "the provider returned an error")


def _local_or_unavailable(flow: str) -> Callable[..., Any]:
    fn = local_function(flow) if local_allowed(flow) else None
    if fn is None:
        raise AIUnavailable(f"No AI provider is configured for {flow} (set an API key)")
    return fn


def _call_local(fn: Callable[..., T], **kwargs: Any) -> T:
    try:
        return fn(**kwargs)
    except ApiError:
        raise
    except Exception as exc:  # noqa: BLE001 - a broken local function must not leak data
        logger.warning("local ai function failed (%s)", type(exc).__name__)
        raise AIProviderError("The offline AI provider failed", code="ai_local_error") from None


def structured_call(
    *,
    flow: str,
    schema: dict[str, Any],
    system: str,
    content: Content,
    language: str = "English",
) -> StructuredResult:
    """One forced function call for `flow`; the arguments sanitised and validated.

    `schema` is a function definition `{name, description, parameters}` (JSON schema in
    `parameters`); `[LANGUAGE]` in it and in `system` becomes `language`.
    """
    function = localise(schema, language)
    system = localise(system, language)
    _, chain = candidates(flow, include_local=True)
    local_fn = local_function(flow) if local_allowed(flow) else None
    chain = [c for c in chain if c.kind != "local" or local_fn is not None]
    if not any(c.kind != "local" for c in chain):
        # Nothing remote is configured: the offline function, or AIUnavailable.
        fn = _local_or_unavailable(flow)
        raw = _call_local(fn, schema=function, system=system, content=content, language=language)
        try:
            data = validate_output(function, raw)
        except SchemaError:
            raise AIProviderError(
                "The offline AI provider failed: " + _reason("ai_invalid_output"),
                code="ai_invalid_output",
            ) from None
        return StructuredResult(
            data=data, provider="local", model="local", token_usage=0, labelled_local=True
        )

    def attempt(candidate: Candidate) -> tuple[dict[str, Any], int]:
        if candidate.kind == "local":  # `local` named in the flow, e.g. as the last fallback
            raw_local = _attempt_local(local_fn, function, system, content, language)
            return validate_output(function, raw_local), 0
        call = (
            providers.gemini_function_call
            if candidate.kind == "gemini"
            else providers.openai_function_call
        )
        raw = call(candidate, function=function, system=system, content=content)
        return validate_output(function, providers.arguments_json(raw.arguments)), raw.token_usage

    used, (data, tokens) = _run_chain(flow, chain, attempt)
    return StructuredResult(
        data=data,
        provider=used.provider,
        model=used.model_id,
        token_usage=tokens,
        labelled_local=used.kind == "local",
    )


def _attempt_local(
    fn: Callable[..., Any] | None,
    function: dict[str, Any],
    system: str,
    content: Content,
    language: str,
) -> Any:
    """The offline function as one attempt of a chain: its failures end the attempt."""
    if fn is None:  # filtered out before; kept for the type checker
        raise providers.AttemptError("ai_unavailable", retryable=False)
    try:
        return fn(schema=function, system=system, content=content, language=language)
    except ApiError as exc:
        raise providers.AttemptError(exc.code, retryable=False, status=exc.status) from None
    except Exception as exc:  # noqa: BLE001 - a broken local function must not leak data
        logger.warning("local ai function failed (%s)", type(exc).__name__)
        raise providers.AttemptError("ai_local_error", retryable=False) from None


def stream_chat(*, flow: str, messages: list[dict[str, Any]]) -> Iterator[str]:
    """Text deltas of a chat answer. Falls back to the next candidate only before the first
    delta; a failure after it raises AIProviderError (a half answer is never restarted)."""
    _, chain = candidates(flow)
    if not chain:
        fn = _local_or_unavailable(flow)
        return _local_stream(fn, messages)
    return _remote_stream(flow, chain, messages)


def _local_stream(fn: Callable[..., Any], messages: list[dict[str, Any]]) -> Iterator[str]:
    answer = _call_local(fn, messages=messages)
    if isinstance(answer, str):
        yield answer
        return
    yield from (str(part) for part in answer if part)


def _remote_stream(
    flow: str, chain: list[Candidate], messages: list[dict[str, Any]]
) -> Iterator[str]:
    def attempt(candidate: Candidate) -> tuple[str, Iterator[str]]:
        stream: Iterable[str] = (
            providers.gemini_stream(candidate, messages=messages)
            if candidate.kind == "gemini"
            else providers.openai_stream(candidate, messages=messages)
        )
        iterator = iter(stream)
        first = next(iterator, "")
        return first, iterator

    used, (first, rest) = _run_chain(flow, chain, attempt)
    if first:
        yield first
    try:
        yield from rest
    except providers.AttemptError as exc:
        logger.warning(
            "ai stream broke flow=%s provider=%s model=%s code=%s",
            flow,
            used.provider,
            used.model_id,
            exc.code,
        )
        raise AIProviderError(
            "The AI provider failed: " + _reason(exc.code), code=exc.code
        ) from None


def transcribe(
    *,
    audio: bytes,
    filename: str,
    mime: str,
    language: str | None = None,
    prompt: str | None = None,
    flow: str = "transcription",
) -> str:
    """The transcript of one audio file through the OpenAI audio API (or a compatible one)."""
    _, chain = candidates(flow)
    chain = [c for c in chain if c.kind in ("openai", "openai_compatible")]
    if not chain:
        fn = _local_or_unavailable(flow)
        text = _call_local(
            fn, audio=audio, filename=filename, mime=mime, language=language, prompt=prompt
        )
        return str(text)

    def attempt(candidate: Candidate) -> str:
        return providers.openai_transcribe(
            candidate, audio=audio, filename=filename, mime=mime, language=language, prompt=prompt
        )

    used: tuple[Candidate, str] = _run_chain(flow, chain, attempt)
    return used[1]
