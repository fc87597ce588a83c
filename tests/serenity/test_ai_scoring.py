"""POST /v1/serenity/analyze through the configured providers (flow `serenity_form_analysis`):
the real LangChain/OpenAI and google-genai clients against the local stub on 127.0.0.1."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = pytest.mark.django_db

TOOL = "extract_serenity_observations"
SECRET_TRANSCRIPT = "Mrs. Zdenka Kratochvilova grimaces, her breathing is irregular."
QUESTIONS = [
    "facialExpression",
    "eyeMovement",
    "bodyMovement",
    "vocalizationBreathing",
    "environmentalEngagement",
]


def request_body(**overrides: Any) -> dict[str, Any]:
    return {"transcript": SECRET_TRANSCRIPT, "formType": "pre", "language": "cs", **overrides}


def test_the_model_answer_becomes_the_form_response(analyze: Any, ai_providers: Any) -> None:
    ai_providers.reply(
        api="openai",
        tool=TOOL,
        args={
            "facialExpression": 1,
            "vocalizationBreathing": 2,
            "environmentalEngagement": 1,
            "confidence": 0.85,
            "unansweredQuestions": ["eyeMovement", "bodyMovement"],
            "reasoning": "Grimacing and irregular breathing were described.",
        },
    )
    response = analyze(request_body())
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "success": True,
        "formResponses": {
            "facialExpression": 1,
            "vocalizationBreathing": 2,
            "environmentalEngagement": 1,
        },
        "totalScore": 4,
        "interpretation": {
            "range": "Moderate",
            "guidance": "Patient shows moderate signs of discomfort or restlessness. Consider "
            "environmental adjustments or additional comfort measures.",
        },
        "confidence": 0.85,
        "unansweredQuestions": ["eyeMovement", "bodyMovement"],
        "reasoning": "Grimacing and irregular breathing were described.",
        "provider": "openai",
        "offline": False,
    }
    (sent,) = ai_providers.calls(api="openai")
    # One forced function call whose schema comes from the form definition.
    assert sent.body["tool_choice"]["function"]["name"] == TOOL
    (tool,) = sent.body["tools"]
    parameters = tool["function"]["parameters"]
    assert parameters["required"] == ["confidence", "unansweredQuestions"]
    for question in QUESTIONS:
        assert parameters["properties"][question]["enum"] == [0, 1, 2]
    assert "Czech" in parameters["properties"]["reasoning"]["description"]
    system, user = sent.body["messages"]
    assert system["role"] == "system"
    assert "Pre-Session" in system["content"]
    assert "in Czech" in system["content"]
    assert user["role"] == "user"
    assert SECRET_TRANSCRIPT in json.dumps(user["content"])


def test_invalid_scores_are_dropped_and_confidence_is_clamped(
    analyze: Any, ai_providers: Any
) -> None:
    ai_providers.reply(
        api="openai",
        tool=TOOL,
        args={
            "facialExpression": 7,  # not a score of the form: dropped
            "eyeMovement": "1",  # a number as text: accepted
            "bodyMovement": 1.5,  # not an integer: dropped
            "vocalizationBreathing": True,  # not a number: dropped
            "environmentalEngagement": 2.0,  # an integral float: accepted as 2
            "confidence": 3.5,  # clamped to 1.0
            "unansweredQuestions": ["noSuchQuestion"],
            "reasoning": "<script>alert(1)</script>Two observations.",
            "invented": "ignored",
        },
    )
    body = analyze(request_body(formType="post")).json()
    assert body["formResponses"] == {"eyeMovement": 1, "environmentalEngagement": 2}
    assert body["totalScore"] == 3
    assert body["interpretation"]["range"] == "Good"
    assert body["confidence"] == 1.0
    # Computed from the scores, not taken from the model.
    assert body["unansweredQuestions"] == [
        "facialExpression",
        "bodyMovement",
        "vocalizationBreathing",
    ]
    assert body["reasoning"] == "Two observations."
    assert "invented" not in body


def test_a_negative_confidence_is_clamped_to_zero(analyze: Any, ai_providers: Any) -> None:
    ai_providers.reply(
        api="openai",
        tool=TOOL,
        args={"facialExpression": 0, "confidence": -2, "unansweredQuestions": []},
    )
    body = analyze(request_body()).json()
    assert body["confidence"] == 0.0
    assert body["formResponses"] == {"facialExpression": 0}


def test_an_answer_without_the_required_keys_falls_back_to_the_next_provider(
    analyze: Any, ai_providers: Any
) -> None:
    ai_providers.reply(api="openai", tool=TOOL, args={"facialExpression": 2})
    ai_providers.reply(
        api="gemini",
        tool=TOOL,
        args={"bodyMovement": 2, "confidence": 0.7, "unansweredQuestions": []},
    )
    response = analyze(request_body())
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["provider"], body["offline"]) == ("google", False)
    assert body["formResponses"] == {"bodyMovement": 2}
    assert len(ai_providers.calls(api="openai")) == 2  # the primary model and its fallback


def test_a_provider_failure_is_a_502_envelope_without_the_transcript(
    analyze: Any, ai_providers: Any, configured_output: Any
) -> None:
    ai_providers.reply(status=500)
    response = analyze(request_body())
    assert response.status_code == 502
    assert response.json() == {
        "message": "The AI provider failed: the provider returned an error",
        "code": "ai_provider_error",
        "fields": {},
    }
    assert len(ai_providers.requests) >= 3  # every configured candidate was tried
    assert "Kratochvilova" not in response.content.decode()
    output = configured_output.getvalue()
    assert "serenity_form_analysis" in output  # the failures were logged...
    assert "Kratochvilova" not in output  # ...without the transcript
    assert "grimaces" not in output


def test_invalid_output_everywhere_is_a_502_ai_invalid_output(
    analyze: Any, ai_providers: Any
) -> None:
    ai_providers.reply(tool=TOOL, raw_arguments="{not json")
    response = analyze(request_body())
    assert response.status_code == 502
    assert response.json()["code"] == "ai_invalid_output"


def test_a_provider_that_does_not_answer_in_time_is_a_502_ai_timeout(
    analyze: Any, ai_providers: Any, settings: Any
) -> None:
    settings.MEDIQOM_AI_TIMEOUT_MS = 300
    ai_providers.reply(hang=True)
    response = analyze(request_body())
    assert response.status_code == 502
    assert response.json()["code"] == "ai_timeout"


def test_a_successful_analysis_logs_no_transcript(
    analyze: Any, ai_providers: Any, configured_output: Any
) -> None:
    ai_providers.reply(
        api="openai", tool=TOOL, args={"confidence": 0.5, "unansweredQuestions": QUESTIONS}
    )
    assert analyze(request_body()).status_code == 200
    assert "Kratochvilova" not in configured_output.getvalue()
