"""Scoring a SERENITY form from a transcript. Stateless: nothing is read or stored, so no
user's data other than the caller's own transcript is ever involved."""

from __future__ import annotations

from typing import Any

from mediqom.ai import structured_call
from mediqom.serenity.forms import (
    FormType,
    form_get,
    function_schema,
    interpretation_for,
    system_prompt,
)

FLOW = "serenity_form_analysis"


def form_analyze(*, transcript: str, form_type: FormType, language: str) -> dict[str, Any]:
    """The `SerenityFormResponse` for a transcript (`language` is a name: "Czech").

    The model (or the offline provider) only proposes per-question scores; the total, the
    interpretation and the unanswered list are computed here from the form definition, so
    they always agree with the scores. With no question answered the range is "Unknown".
    """
    form = form_get(form_type)
    result = structured_call(
        flow=FLOW,
        schema=function_schema(form),
        system=system_prompt(form),
        content=[{"type": "text", "text": transcript}],
        language=language,
    )
    answers: dict[str, int] = {}
    for question in form["questions"]:
        value = result.data.get(question["id"])
        if isinstance(value, int) and not isinstance(value, bool) and value in question["scores"]:
            answers[question["id"]] = value
    total = sum(answers.values())
    score_range = interpretation_for(form, total) if answers else None
    confidence = result.data.get("confidence")
    response: dict[str, Any] = {
        "success": True,
        "formResponses": answers,
        "totalScore": total,
        "interpretation": {
            "range": score_range["interpretation"] if score_range else "Unknown",
            "guidance": score_range["guidance"] if score_range else "",
        },
        "confidence": _clamp(confidence),
        "unansweredQuestions": [q["id"] for q in form["questions"] if q["id"] not in answers],
        "provider": result.provider,
        "offline": result.labelled_local,
    }
    if isinstance(result.data.get("reasoning"), str):
        response["reasoning"] = result.data["reasoning"]
    return response


def _clamp(confidence: Any) -> float:
    """The model's confidence as a number in [0, 1] (0.0 when it gave none)."""
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        return 0.0
    return round(min(max(float(confidence), 0.0), 1.0), 3)
