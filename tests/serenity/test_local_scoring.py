"""POST /v1/serenity/analyze with no AI provider configured: the offline `local` provider
(keyword scoring, mediqom/serenity/lexicon.yaml) answers, deterministically, labelled."""

from __future__ import annotations

from typing import Any

import pytest

from mediqom.serenity.forms import form_get

pytestmark = pytest.mark.django_db

QUESTIONS = [
    "facialExpression",
    "eyeMovement",
    "bodyMovement",
    "vocalizationBreathing",
    "environmentalEngagement",
]

EN_PRE_DISTRESSED = (
    "Pre-session observation. Mr. Novak is lying in bed, his face is tense with a furrowed "
    "brow. His eyes are closed most of the time and he avoids eye contact. He keeps moving "
    "his legs, he cannot sit still. Breathing is slightly irregular, with occasional sighs. "
    "When the music video starts he turns away from the screen."
)
EN_POST_CALM = (
    "After the session she looks much better. Her face is relaxed and she is smiling. Calm "
    "gaze, she follows the pictures on the screen with interest. She sits still, there are "
    "no signs of restlessness. Her breathing is calm and regular. She responds when I talk "
    "to her."
)
CS_PRE_MODERATE = (
    "Pacientka je před sezením neklidná. Obličej má napjatý, svraštělé čelo. Oči jí těkají "
    "po místnosti. Rukama se občas vrtí. Dýchá mělce a občas vzdychne. Obrazovku sleduje "
    "jen krátce, pak ztrácí zájem."
)
CS_POST_CALM = (
    "Po sezení je obličej uvolněný, usmívá se. Pohled je klidný. Sedí klidně bez neklidu. "
    "Dech je klidný a pravidelný. Na obrazovku reaguje se zájmem."
)
DE_PRE_DISTRESSED = (
    "Vor der Sitzung: Das Gesicht ist angespannt, die Stirn gerunzelt. Die Augen sind "
    "geschlossen. Er zappelt mit den Händen und Füßen. Er stöhnt häufig, die Atmung ist "
    "unregelmäßig. Auf den Bildschirm reagiert er nicht, er wendet sich ab."
)
DE_POST_CALM = (
    "Nach der Sitzung ist das Gesicht entspannt. Der Blick ist ruhig. Er sitzt ruhig, ohne "
    "Unruhe. Keine Geräusche, die Atmung ist gleichmäßig. Er schaut interessiert auf den "
    "Bildschirm."
)


def scores(*values: int) -> dict[str, int]:
    return dict(zip(QUESTIONS, values, strict=True))


def guidance(form_type: str, range_name: str) -> str:
    ranges = form_get(form_type)["scoringInterpretation"]["ranges"]  # type: ignore[arg-type]
    return next(r["guidance"] for r in ranges if r["interpretation"] == range_name)


@pytest.mark.parametrize(
    ("transcript", "form_type", "language", "expected", "total", "range_name"),
    [
        (EN_PRE_DISTRESSED, "pre", "en", scores(2, 2, 2, 1, 2), 9, "Poor"),
        (EN_POST_CALM, "post", "en", scores(0, 0, 0, 0, 0), 0, "Good"),
        (CS_PRE_MODERATE, "pre", "cs", scores(2, 1, 1, 1, 1), 6, "Moderate"),
        (CS_POST_CALM, "post", "cs", scores(0, 0, 0, 0, 0), 0, "Good"),
        (DE_PRE_DISTRESSED, "pre", "de", scores(2, 2, 1, 2, 2), 9, "Poor"),
        (DE_POST_CALM, "post", "de", scores(0, 0, 0, 0, 0), 0, "Good"),
    ],
)
def test_it_scores_realistic_transcripts_offline_and_labels_the_answer(
    analyze: Any,
    ai_stub: Any,
    transcript: str,
    form_type: str,
    language: str,
    expected: dict[str, int],
    total: int,
    range_name: str,
) -> None:
    response = analyze({"transcript": transcript, "formType": form_type, "language": language})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["formResponses"] == expected
    assert body["totalScore"] == total
    assert body["interpretation"] == {
        "range": range_name,
        "guidance": guidance(form_type, range_name),
    }
    assert body["unansweredQuestions"] == []
    assert body["confidence"] == 0.6
    assert body["success"] is True
    assert (body["provider"], body["offline"]) == ("local", True)
    assert body["reasoning"].startswith("Offline keyword scoring (local provider, no AI model)")
    assert ai_stub.requests == []  # nothing was sent anywhere


def test_the_same_transcript_always_gets_the_same_answer(analyze: Any) -> None:
    body = {"transcript": CS_PRE_MODERATE, "formType": "pre", "language": "cs"}
    answers = [analyze(body).json() for _ in range(3)]
    assert answers[0] == answers[1] == answers[2]


def test_questions_without_an_observation_stay_unanswered(analyze: Any) -> None:
    response = analyze(
        {"transcript": "He grimaces slightly when I touch his arm.", "formType": "pre"}
    )
    body = response.json()
    assert body["formResponses"] == {"facialExpression": 1}
    assert body["totalScore"] == 1
    assert body["unansweredQuestions"] == QUESTIONS[1:]
    assert body["confidence"] == 0.12
    assert body["interpretation"]["range"] == "Good"


def test_a_transcript_without_observations_has_no_score_and_no_interpretation(
    analyze: Any,
) -> None:
    response = analyze(
        {"transcript": "We talked about the weather and his grandchildren.", "formType": "post"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["formResponses"] == {}
    assert body["totalScore"] == 0
    assert body["interpretation"] == {"range": "Unknown", "guidance": ""}
    assert body["unansweredQuestions"] == QUESTIONS
    assert body["confidence"] == 0.0


@pytest.mark.parametrize(
    ("transcript", "expected"),
    [
        ("No grimacing at all.", {"facialExpression": 0}),
        ("There is no restlessness in her body.", {"bodyMovement": 0}),
        ("Her face is not calm.", {}),  # a negated calm cue is no evidence
        ("Without any tension in the face.", {"facialExpression": 0}),
        ("He does not respond to the screen.", {"environmentalEngagement": 2}),
    ],
)
def test_negations_are_read(analyze: Any, transcript: str, expected: dict[str, int]) -> None:
    body = analyze({"transcript": transcript, "formType": "pre", "language": "en"}).json()
    assert body["formResponses"] == expected


def test_a_transcript_in_another_language_than_requested_is_still_scored(analyze: Any) -> None:
    # The UI language ("en") is not what was spoken (Czech): the other lexicons are tried.
    body = analyze({"transcript": CS_POST_CALM, "formType": "post", "language": "en"}).json()
    assert body["formResponses"] == scores(0, 0, 0, 0, 0)


def test_it_uses_the_local_provider_when_offline_is_forced_even_with_keys(
    analyze: Any, ai_providers: Any, settings: Any
) -> None:
    settings.MEDIQOM_AI_OFFLINE = True
    body = analyze({"transcript": EN_PRE_DISTRESSED, "formType": "pre"}).json()
    assert (body["provider"], body["offline"]) == ("local", True)
    assert body["totalScore"] == 9
    assert ai_providers.requests == []


@pytest.mark.parametrize("language", ["en", "cs", "de"])
def test_the_lexicon_covers_every_question_and_score_of_both_forms(language: str) -> None:
    from mediqom.serenity.lexicon import lexicon

    table = lexicon()[language]
    for form_type in ("pre", "post"):
        for question in form_get(form_type)["questions"]:  # type: ignore[arg-type]
            spec = table.questions[question["id"]]
            assert spec.topic
            assert {cue.level for cue in spec.cues} == set(question["scores"])
