"""structured_call against the real OpenAI / Gemini clients talking to the local stub."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from mediqom.ai import (
    AIProviderError,
    AIUnavailable,
    local_override,
    structured_call,
)

LAB = {
    "name": "lab_values",
    "description": "Lab values of the document, titles in [LANGUAGE]",
    "parameters": {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "flag": {"type": "string", "enum": ["normal", "high", "low"]},
            "values": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "value": {"type": "number"}},
                    "required": ["name", "value"],
                },
            },
        },
        "required": ["title"],
    },
}


def call(**overrides: Any) -> Any:
    kwargs: dict[str, Any] = {
        "flow": "extraction",
        "schema": LAB,
        "system": "Answer in [LANGUAGE].",
        "content": "Hemoglobin 135 g/L",
    }
    kwargs.update(overrides)
    return structured_call(**kwargs)


@pytest.fixture
def models_file(settings: Any, tmp_path: Path) -> Any:
    """Write a custom ai-models.yaml for one test and point the settings at it."""

    def write(text: str) -> Path:
        path = tmp_path / "ai-models.yaml"
        path.write_text(text)
        settings.MEDIQOM_AI_MODELS_FILE = path
        return path

    return write


def test_it_returns_the_sanitised_tool_arguments_with_provider_model_and_tokens(ai_providers):
    ai_providers.reply(
        api="openai",
        tool="lab_values",
        args={
            "title": "<b>Blood</b> count",
            "flag": "HIGH",
            "values": [{"name": "Hb", "value": "135"}, {"name": "Na", "value": "n/a"}, "x"],
            "invented": "dropped",
        },
        tokens=77,
    )
    result = call(language="Czech")
    assert result.data == {
        "title": "Blood count",
        "flag": "high",
        "values": [{"name": "Hb", "value": 135.0}, {"name": "Na"}],
    }
    assert (result.provider, result.model, result.token_usage) == (
        "openai",
        "gpt-4o-2024-08-06",
        77,
    )
    assert result.labelled_local is False
    [request] = ai_providers.requests
    assert request.headers["authorization"] == "Bearer sk-test-stub"
    assert request.body["tool_choice"] == {"type": "function", "function": {"name": "lab_values"}}
    assert request.body["messages"][0] == {"role": "system", "content": "Answer in Czech."}
    tool = request.body["tools"][0]["function"]
    assert tool["description"] == "Lab values of the document, titles in Czech"


def test_it_sends_images_as_content_parts(ai_providers):
    ai_providers.reply(tool="lab_values", args={"title": "x"})
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    call(content=[{"type": "text", "text": "page 1"}, image])
    parts = ai_providers.requests[0].body["messages"][1]["content"]
    assert parts[1]["image_url"]["url"] == "data:image/png;base64,iVBORw0KGgo="


def test_it_times_out_every_candidate_and_raises_ai_timeout(ai_providers, settings):
    settings.MEDIQOM_AI_TIMEOUT_MS = 400
    ai_providers.reply(hang=True)
    started = time.monotonic()
    with pytest.raises(AIProviderError) as caught:
        call()
    elapsed = time.monotonic() - started
    assert caught.value.code == "ai_timeout"
    # openai gpt4, openai gpt4_turbo, google gemini_pro (compatible has no base URL)
    assert [a[2] for a in caught.value.attempts] == ["ai_timeout"] * 3
    # The stub holds each request 60 s: only the timeouts can end the call this early
    # (the margin covers the clients' first-use set-up on a shared machine).
    assert elapsed < 10


def test_it_falls_back_to_the_next_model_and_then_the_next_provider(ai_providers):
    ai_providers.reply(api="openai", status=503)
    ai_providers.reply(api="gemini", tool="lab_values", args={"title": "from gemini"})
    result = call()
    assert result.data == {"title": "from gemini"}
    assert (result.provider, result.model) == ("google", "gemini-2.5-pro")
    assert [(r.api, r.model) for r in ai_providers.requests] == [
        ("openai", "gpt-4o-2024-08-06"),
        ("openai", "gpt-4-turbo"),
        ("gemini", "gemini-2.5-pro"),
    ]
    assert ai_providers.requests[2].headers["x-goog-api-key"] == "gemini-test-stub"


def test_it_falls_back_after_a_timeout(ai_providers, settings):
    settings.MEDIQOM_AI_TIMEOUT_MS = 300
    ai_providers.reply(model="gpt-4o-2024-08-06", hang=True)
    ai_providers.reply(model="gpt-4-turbo", tool="lab_values", args={"title": "turbo"})
    result = call()
    assert (result.model, result.data["title"]) == ("gpt-4-turbo", "turbo")


def test_it_retries_a_transient_error_on_the_same_model(ai_providers, settings):
    settings.MEDIQOM_AI_MAX_RETRIES = 1
    ai_providers.reply(model="gpt-4o-2024-08-06", status=429, times=1)
    ai_providers.reply(tool="lab_values", args={"title": "second try"})
    result = call()
    assert (result.model, result.data["title"]) == ("gpt-4o-2024-08-06", "second try")
    assert len(ai_providers.requests) == 2


def test_it_does_not_retry_a_client_error_but_moves_on(ai_providers, settings):
    settings.MEDIQOM_AI_MAX_RETRIES = 2
    ai_providers.reply(model="gpt-4o-2024-08-06", status=400)
    ai_providers.reply(tool="lab_values", args={"title": "turbo"})
    result = call()
    assert result.model == "gpt-4-turbo"
    assert [r.model for r in ai_providers.requests] == ["gpt-4o-2024-08-06", "gpt-4-turbo"]


def test_it_rejects_output_missing_a_required_key_and_tries_the_next(ai_providers):
    ai_providers.reply(api="openai", tool="lab_values", args={"flag": "high"})
    ai_providers.reply(api="gemini", tool="lab_values", args={"title": "ok"})
    assert call().provider == "google"


def test_it_raises_invalid_output_when_no_provider_answers_in_shape(ai_providers):
    ai_providers.reply(tool="lab_values", raw_arguments="{not json")
    ai_providers.reply(api="gemini", tool="lab_values", args={"values": []})
    with pytest.raises(AIProviderError) as caught:
        call()
    assert caught.value.code == "ai_invalid_output"
    assert caught.value.status == 502


def test_all_providers_failing_raises_a_provider_error_with_every_attempt(ai_providers):
    ai_providers.reply(status=500)
    with pytest.raises(AIProviderError) as caught:
        call()
    assert caught.value.code == "ai_provider_error"
    assert len(caught.value.attempts) == 3
    assert "Hemoglobin" not in caught.value.message


def test_without_keys_it_raises_ai_unavailable_and_makes_no_request(ai_stub):
    with pytest.raises(AIUnavailable) as caught:
        call(flow="medical_analysis")
    assert caught.value.code == "ai_unavailable"
    assert ai_stub.requests == []


def test_without_keys_it_uses_the_registered_local_function(ai_stub):
    seen: dict[str, Any] = {}

    def local(*, schema: dict[str, Any], system: str, content: Any, language: str) -> Any:
        seen.update(schema=schema["description"], system=system, language=language)
        return {"title": "local <i>title</i>", "flag": "LOW"}

    with local_override("extraction", local):
        result = call(language="German")
    assert result.data == {"title": "local title", "flag": "low"}
    assert (result.provider, result.model, result.labelled_local) == ("local", "local", True)
    assert seen == {
        "schema": "Lab values of the document, titles in German",
        "system": "Answer in German.",
        "language": "German",
    }
    assert ai_stub.requests == []


def test_offline_mode_uses_local_even_with_keys(ai_providers, settings):
    settings.MEDIQOM_AI_OFFLINE = True
    with local_override("extraction", lambda **_: {"title": "offline"}):
        result = call()
    assert result.labelled_local is True
    assert ai_providers.requests == []


def test_a_compatible_server_is_used_by_base_url_alone(ai_stub, settings, models_file):
    models_file(
        """
providers:
  clinic:
    kind: openai_compatible
    api_key_setting: MEDIQOM_AI_COMPAT_API_KEY
    api_key_required: false
    base_url_setting: MEDIQOM_AI_COMPAT_BASE_URL
    models:
      default: {model_id: llama3.1, model_id_setting: MEDIQOM_AI_COMPAT_MODEL}
flows:
  extraction: {provider: clinic, model: default}
"""
    )
    settings.MEDIQOM_AI_COMPAT_BASE_URL = ai_stub.openai_base_url
    settings.MEDIQOM_AI_COMPAT_MODEL = "qwen2.5:72b"
    settings.MEDIQOM_AI_MAX_RETRIES = 0
    ai_stub.reply(tool="lab_values", args={"title": "from the clinic"})
    result = call()
    assert (result.provider, result.model) == ("clinic", "qwen2.5:72b")
    assert ai_stub.requests[0].body["model"] == "qwen2.5:72b"


def test_gemini_as_primary_provider_answers_through_generate_content(ai_providers, models_file):
    models_file(
        """
providers:
  google:
    kind: gemini
    api_key_setting: GEMINI_API_KEY
    base_url_setting: GEMINI_BASE_URL
    models:
      flash: {model_id: gemini-2.5-flash}
flows:
  extraction: {provider: google, model: flash}
"""
    )
    ai_providers.reply(api="gemini", tool="lab_values", args={"title": "gemini", "flag": "Normal"})
    result = call()
    assert result.data == {"title": "gemini", "flag": "normal"}
    [request] = ai_providers.requests
    assert re.fullmatch(r"/v1\w*/models/gemini-2\.5-flash:generateContent", request.path)
    calling = request.body["toolConfig"]["functionCallingConfig"]
    assert calling == {"allowedFunctionNames": ["lab_values"], "mode": "ANY"}


def test_the_cost_rule_overrides_the_model_of_simple_flows(ai_providers):
    ai_providers.reply(tool="lab_values", args={"title": "x"})
    result = call(flow="feature_detection")
    assert result.model == "gpt-4o-mini"


def test_an_unknown_flow_is_a_configuration_error(ai_providers):
    with pytest.raises(ImproperlyConfigured):
        call(flow="no_such_flow")


def test_a_flow_naming_an_unknown_provider_is_a_configuration_error(models_file):
    models_file("flows:\n  extraction: {provider: nobody, model: x}\n")
    with pytest.raises(ImproperlyConfigured, match="unknown provider"):
        call()
