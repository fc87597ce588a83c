"""The sanitiser that stands between model output and our data."""

from __future__ import annotations

import pytest

from mediqom.ai.schema import MAX_ITEMS, SchemaError, sanitise, validate_output

SCHEMA = {
    "type": "object",
    "properties": {
        "category": {"type": "string", "enum": ["laboratory", "imaging"]},
        "urgency": {"type": "integer", "minimum": 1, "maximum": 5},
        "isMedical": {"type": "boolean"},
        "summary": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string", "enum": ["heart", "liver"]}},
    },
    "required": ["category"],
}


def test_it_strips_markup_and_control_characters():
    out = sanitise(
        SCHEMA, {"category": "laboratory", "summary": "<script>x()</script>**ok**\x07<br/>"}
    )
    assert out["summary"] == "**ok**"


def test_it_maps_enum_case_and_drops_unknown_enum_items():
    out = sanitise(SCHEMA, {"category": "Laboratory", "tags": ["Heart", "spleen", "liver"]})
    assert out == {"category": "laboratory", "tags": ["heart", "liver"]}


def test_it_drops_an_optional_value_out_of_range_but_fails_a_bad_required_one():
    assert sanitise(SCHEMA, {"category": "imaging", "urgency": 9}) == {"category": "imaging"}
    with pytest.raises(SchemaError, match=r"\$\.category"):
        sanitise(SCHEMA, {"category": "astrology"})


def test_it_coerces_trivial_scalars():
    out = sanitise(SCHEMA, {"category": "imaging", "urgency": "3", "isMedical": "true"})
    assert out == {"category": "imaging", "urgency": 3, "isMedical": True}


def test_it_caps_arrays_and_strings():
    schema = {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "string"}}}}
    out = sanitise(schema, {"a": ["y" * 50_000] * (MAX_ITEMS + 10)})
    assert len(out["a"]) == MAX_ITEMS
    assert len(out["a"][0]) == 20_000


def test_validate_output_rejects_a_non_object_root():
    with pytest.raises(SchemaError):
        validate_output({"name": "f", "parameters": SCHEMA}, ["category"])
