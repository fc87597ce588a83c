"""The offline rules: chest pain in three languages, evidence, negation, questions, labels."""

from __future__ import annotations

import pytest

from sessions_app.icd10 import icd10_codes
from sessions_app.local_analysis import Segment, analyze_diagnosis, analyze_transcript
from tests.sessions_app.fixtures import CHEST_PAIN_CS, CHEST_PAIN_DE, CHEST_PAIN_EN


def segments(lines: list[str]) -> list[Segment]:
    return [Segment(id=f"t{i}", text=line) for i, line in enumerate(lines)]


@pytest.mark.parametrize(
    ("lines", "language", "pericarditis"),
    [
        (CHEST_PAIN_EN, "en", "Acute pericarditis"),
        (CHEST_PAIN_CS, "cs", "Akutní perikarditida"),
        (CHEST_PAIN_DE, "de", "Akute Perikarditis"),
    ],
)
def test_it_ranks_pericarditis_first_for_positional_pleuritic_chest_pain(
    lines, language, pericarditis
):
    result = analyze_diagnosis(segments(lines), language=language)
    codes = [d["code"] for d in result["diagnosis"]]
    assert result["diagnosis"][0]["name"] == pericarditis
    assert codes[0] == "I30.9"
    # the must-not-miss differentials are there too
    assert {"R09.1", "I26.9", "I24.9"} <= set(codes)
    assert result["provider"] == "local"
    assert result["label"]
    assert all(code in icd10_codes() for code in codes)


def test_every_diagnosis_links_back_to_the_transcript_text_it_rests_on():
    segs = segments(CHEST_PAIN_EN)
    by_id = {s.id: s.text for s in segs}
    result = analyze_diagnosis(segs, language="en")
    for diagnosis in result["diagnosis"]:
        assert diagnosis["evidence"], diagnosis["name"]
        for evidence in diagnosis["evidence"]:
            text = by_id[evidence["transcriptId"]]
            assert evidence["quote"] in text
            assert 0 <= evidence["start"] < evidence["end"] <= len(text)
    top = result["diagnosis"][0]
    quoted = {e["transcriptId"] for e in top["evidence"]}
    assert {"t1", "t3", "t5"} <= quoted  # pain, breathing/lying, leaning forward


def test_it_ignores_negated_findings_and_questions():
    result = analyze_transcript(segments(CHEST_PAIN_EN), language="en")
    names = {s["name"] for s in result["symptoms"]}
    assert "Chest pain" in names
    assert "Fever" not in names  # "No fever"
    assert "Cough" not in names  # "I don't have a cough" and the doctor's question
    diagnosis = analyze_diagnosis(segments(["Do you have a sore throat?"]), language="en")
    assert diagnosis["diagnosis"] == []


def test_it_fills_the_transcript_schema_shape():
    result = analyze_transcript(segments(CHEST_PAIN_EN), language="en")
    assert result["isMedicalConversation"] is True
    assert result["complaint"] == "Chest pain"
    assert result["conversation"][0] == {
        "speaker": "doctor",
        "text": "Good morning, what brings you in today?",
        "stress": "low",
        "urgency": "low",
    }
    chest = next(s for s in result["symptoms"] if s["name"] == "Chest pain")
    assert chest["duration"] == "days"
    assert chest["bodyParts"] == ["chest"]
    assert (
        analyze_transcript(segments(["Nice weather today."]), language="en")[
            "isMedicalConversation"
        ]
        is False
    )


def test_it_asks_questions_and_raises_red_flags():
    result = analyze_diagnosis(
        segments(["I have crushing chest pain that goes into my left arm, and I am sweating."]),
        language="en",
    )
    assert result["diagnosis"][0]["code"] == "I24.9"
    flags = [f["flag"] for f in result["redFlags"]]
    assert "Chest pain radiating to the arm or jaw" in flags
    assert "Chest pain with sweating" in flags
    assert result["doctorRecommendations"][0]["priority"] == "critical"
    assert 3 <= len(result["clarifyingQuestions"]) <= 7
    assert result["clarifyingQuestions"][0]["priority"] == "critical"
    ecg = next(f for f in result["followUp"] if f["name"] == "12-lead ECG")
    assert ecg["urgency"] == "immediate"


def test_it_is_deterministic():
    first = analyze_diagnosis(segments(CHEST_PAIN_DE), language="de")
    assert analyze_diagnosis(segments(CHEST_PAIN_DE), language="de") == first


def test_it_picks_up_medication_named_in_the_consultation():
    result = analyze_diagnosis(
        segments(["I will prescribe ibuprofen 400 mg three times a day.", "No aspirin please."]),
        language="en",
    )
    assert [(m["name"], m["dosage"]) for m in result["medication"]] == [("Ibuprofen", 400.0)]
