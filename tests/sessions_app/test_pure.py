"""ICD-10 table, the §4.1 merge rule, the §4.7 schema files and the transcription guards."""

from __future__ import annotations

import json

import pytest

from mediqom.errors import InvalidInput, PayloadTooLarge
from sessions_app.icd10 import normalize_code, verify_diagnosis_codes
from sessions_app.merge import analysis_update_payload, merge_analysis
from sessions_app.schemas import SCHEMA_DIR, load_schema
from sessions_app.transcription import (
    MEDICAL_PROMPT,
    SUPPORTED_MIME_TYPES,
    TRANSLATE_PROMPT,
    Instructions,
    check_audio,
    parse_instructions,
    prompt_for,
    strip_prompt_echo,
)


def test_invented_icd10_codes_are_dropped_and_real_ones_normalised():
    checked = verify_diagnosis_codes(
        {
            "diagnosis": [
                {"name": "Pericarditis", "code": " i30.9"},
                {"name": "Made up", "code": "X99.999"},
                {"name": "No code"},
            ],
            "treatment": [{"description": "rest"}],
        }
    )
    assert checked["diagnosis"] == [
        {"name": "Pericarditis", "code": "I30.9"},
        {"name": "Made up"},
        {"name": "No code"},
    ]
    assert checked["treatment"] == [{"description": "rest"}]
    assert normalize_code("R07.4") == "R07.4"
    assert normalize_code("R07.49") is None
    assert normalize_code(None) is None


def test_merge_keeps_cumulative_arrays_matched_by_name_or_description():
    current = {
        "diagnosis": [{"name": "Pleurisy", "probability": 0.3}],
        "treatment": [{"description": "Rest", "effectiveness": "low"}],
        "medication": [],
        "followUp": [{"name": "ECG", "urgency": "routine"}],
    }
    update = {
        "diagnosis": [
            {"name": "pleurisy ", "probability": 0.5},
            {"name": "Acute pericarditis", "probability": 0.7},
        ],
        "treatment": [{"description": "NSAID"}],
        "followUp": [{"name": "ECG", "urgency": "immediate"}],
        "clarifyingQuestions": [{"question": "Leaning forward?"}],
    }
    merged = merge_analysis(current, update)
    assert merged["diagnosis"] == [
        {"name": "pleurisy ", "probability": 0.5},
        {"name": "Acute pericarditis", "probability": 0.7},
    ]
    assert [t["description"] for t in merged["treatment"]] == ["Rest", "NSAID"]
    assert merged["followUp"] == [{"name": "ECG", "urgency": "immediate"}]
    assert current["diagnosis"] == [{"name": "Pleurisy", "probability": 0.3}]  # not mutated
    again = merge_analysis(merged, {"clarifyingQuestions": [{"question": "leaning forward?"}]})
    assert len(again["clarifyingQuestions"]) == 1
    payload = analysis_update_payload(merged, update)
    assert set(payload) == {"diagnosis", "treatment", "medication", "followUp", "incremental"}
    assert payload["incremental"] is update


@pytest.mark.parametrize("name", ["transcript", "diagnosis", "report"])
def test_schema_files_carry_the_language_placeholder(name):
    raw = (SCHEMA_DIR / f"{name}.json").read_text()
    assert "[LANGUAGE]" in raw
    schema = load_schema(name, "Czech")
    assert "[LANGUAGE]" not in json.dumps(schema)
    assert "Czech" in json.dumps(schema)
    assert schema["parameters"]["type"] == "object"
    for key in schema["parameters"]["required"]:
        assert key in schema["parameters"]["properties"], key


def test_diagnosis_schema_has_the_contract_fields():
    props = load_schema("diagnosis")["parameters"]["properties"]
    assert set(props) == {
        "diagnosis", "treatment", "followUp", "medication", "clarifyingQuestions",
        "doctorRecommendations", "signals",
    }  # fmt: skip
    item = props["diagnosis"]["items"]["properties"]
    assert {
        "name",
        "code",
        "origin",
        "basis",
        "probability",
        "supportingSymptoms",
        "rationale",
    } <= set(item)
    assert load_schema("report")["parameters"]["required"] == [
        "findings", "treatment", "medication", "follow-up", "recommendations",
    ]  # fmt: skip


def test_audio_allow_list_and_size_cap(settings):
    assert check_audio(content_type="audio/webm;codecs=opus", size=10) == "audio/webm"
    assert set(SUPPORTED_MIME_TYPES) >= {"audio/mpeg", "audio/wav", "audio/webm", "video/mp4"}
    with pytest.raises(InvalidInput) as raised:
        check_audio(content_type="image/png", size=10)
    assert raised.value.code == "unsupported_audio_type"
    assert "audio/flac" in raised.value.message
    with pytest.raises(InvalidInput):
        check_audio(content_type="audio/x-unknown", size=10)
    assert check_audio(content_type="audio/x-unknown", size=10, allow_any_audio=True)
    with pytest.raises(InvalidInput):
        check_audio(content_type="audio/wav", size=0)
    settings.MEDIQOM_TRANSCRIBE_MAX_BYTES = 25 * 1024 * 1024
    assert check_audio(content_type="audio/wav", size=25 * 1024 * 1024)
    with pytest.raises(PayloadTooLarge) as too_large:
        check_audio(content_type="audio/wav", size=25 * 1024 * 1024 + 1)
    assert too_large.value.code == "audio_too_large"
    assert too_large.value.status == 413


def test_instructions_prompt_and_echo_guard():
    assert parse_instructions('{"lang": "CS"}') == Instructions(lang="cs")
    assert parse_instructions("not json", default_lang="de") == Instructions(lang="de")
    with pytest.raises(InvalidInput):
        parse_instructions('{"translate": "yes"}')
    assert prompt_for(Instructions()) == MEDICAL_PROMPT
    assert prompt_for(Instructions(translate=True)) == TRANSLATE_PROMPT
    assert prompt_for(Instructions(prompt="Cardiology.")) == "Cardiology."
    assert strip_prompt_echo(MEDICAL_PROMPT + " I have chest pain.", MEDICAL_PROMPT) == (
        "I have chest pain."
    )
    assert strip_prompt_echo("  I have chest pain. ", MEDICAL_PROMPT) == "I have chest pain."
    assert strip_prompt_echo(MEDICAL_PROMPT, MEDICAL_PROMPT) == ""
