"""stream_chat (SSE deltas) and transcribe (multipart audio) through the real clients."""

from __future__ import annotations

from typing import Any

import pytest

from mediqom.ai import (
    AIProviderError,
    AIUnavailable,
    register_local,
    stream_chat,
    transcribe,
    unregister_local,
)
from mediqom.ai.local import local_function

MESSAGES = [
    {"role": "system", "content": "You are a careful assistant."},
    {"role": "user", "content": "What does a high CRP mean?"},
]


def test_it_streams_text_deltas_from_openai(ai_providers):
    ai_providers.reply(api="openai", text="CRP is an inflammation marker.")
    deltas = list(stream_chat(flow="ai_chat_patient", messages=MESSAGES))
    assert deltas == ["CRP ", "is ", "an ", "inflammation ", "marker."]
    [request] = ai_providers.requests
    assert request.stream is True
    assert request.body["messages"][1] == {"role": "user", "content": MESSAGES[1]["content"]}


def test_it_falls_back_to_gemini_streaming_before_the_first_delta(ai_providers):
    ai_providers.reply(api="openai", status=500)
    ai_providers.reply(api="gemini", text="Gemini answers.")
    assert "".join(stream_chat(flow="ai_chat_clinical", messages=MESSAGES)) == "Gemini answers."
    gemini = ai_providers.calls(api="gemini")[0]
    assert ":streamGenerateContent" in gemini.path
    assert gemini.body["systemInstruction"]["parts"][0]["text"] == MESSAGES[0]["content"]


def test_a_stream_with_every_provider_failing_raises_a_provider_error(ai_providers, settings):
    settings.MEDIQOM_AI_TIMEOUT_MS = 300
    ai_providers.reply(api="openai", status=502)
    ai_providers.reply(api="gemini", hang=True)
    with pytest.raises(AIProviderError) as caught:
        list(stream_chat(flow="ai_chat_patient", messages=MESSAGES))
    assert caught.value.code == "ai_timeout"


@pytest.fixture
def without_local_chat() -> Any:
    """No offline chat function for the test (sessions_app registers one); restored after."""
    previous = local_function("ai_chat_patient")
    unregister_local("ai_chat_patient")
    yield
    if previous is not None:
        register_local("ai_chat_patient", previous)
    else:
        unregister_local("ai_chat_patient")


@pytest.mark.usefixtures("without_local_chat")
def test_stream_without_keys_is_unavailable_at_once(ai_stub):
    with pytest.raises(AIUnavailable):
        stream_chat(flow="ai_chat_patient", messages=MESSAGES)
    assert ai_stub.requests == []


@pytest.mark.usefixtures("without_local_chat")
def test_stream_without_keys_uses_a_local_function(ai_stub):
    register_local("ai_chat_patient", lambda *, messages: iter(["local ", "answer"]))
    assert list(stream_chat(flow="ai_chat_patient", messages=MESSAGES)) == ["local ", "answer"]


def test_it_transcribes_audio_through_the_openai_audio_api(ai_providers):
    ai_providers.reply(api="transcription", transcript="The patient reports chest pain.")
    text = transcribe(
        audio=b"RIFF\x00\x00\x00\x00WAVE" + bytes(64),
        filename="chunk-1.wav",
        mime="audio/wav",
        language="cs",
        prompt="Medical consultation.",
    )
    assert text == "The patient reports chest pain."
    [request] = ai_providers.requests
    assert request.path == "/v1/audio/transcriptions"
    assert request.body["model"] == "gpt-4o-mini-transcribe"
    assert request.body["language"] == "cs"
    assert request.body["prompt"] == "Medical consultation."
    assert (request.body["file_name"], request.body["file_size"]) == ("chunk-1.wav", 76)


def test_transcription_falls_back_to_a_compatible_server(ai_providers, ai_stub, settings):
    from tests.ai_stub import AIStub

    clinic = AIStub().start()
    try:
        settings.MEDIQOM_AI_COMPAT_BASE_URL = clinic.openai_base_url
        ai_providers.reply(api="transcription", status=500)
        clinic.reply(api="transcription", transcript="from the clinic")
        text = transcribe(audio=b"x" * 10, filename="a.webm", mime="audio/webm")
        assert text == "from the clinic"
        assert clinic.requests[0].body["model"] == "whisper-1"
    finally:
        clinic.stop()


def test_transcription_without_keys_is_unavailable(ai_stub: Any):
    with pytest.raises(AIUnavailable):
        transcribe(audio=b"x", filename="a.wav", mime="audio/wav")
