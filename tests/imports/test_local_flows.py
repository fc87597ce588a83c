"""The local provider through the AI layer's structured-flow signature
`fn(*, schema, system, content, language)`: answers validate against the function schema."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from imports_app.local.flows import (
    LOCAL_FLOWS,
    document_type_routing,
    empty_instance,
    extraction,
    feature_detection,
    ocr_extraction,
    register_all,
)
from tests.imports.conftest import data_url
from tests.imports.lab_reports import REPORTS

# The contract's schemas (§7.2, §7.3), reduced to their fields, types, enums and required lists.
FLAGS = [
    "hasSummary", "hasDiagnosis", "hasBodyParts", "hasPerformer", "hasPatient",
    "hasRecommendations", "hasSignals", "hasPrescriptions", "hasImmunizations", "hasImaging",
    "hasDental", "hasAdmission", "hasProcedures", "hasAnesthesia", "hasSpecimens",
    "hasMicroscopic", "hasMolecular", "hasECG", "hasEcho", "hasTriage", "hasTreatments",
    "hasAssessment", "hasTumorCharacteristics", "hasTreatmentPlan", "hasTreatmentResponse",
    "hasImagingFindings", "hasGrossFindings", "hasSpecialStains", "hasAllergies",
    "hasMedications", "hasSocialHistory",
]  # fmt: skip
DOCUMENT_TYPES = [
    "clinical_report", "laboratory_results", "imaging_report", "pathology_report",
    "surgical_report", "emergency_report", "consultation_note", "discharge_summary",
    "prescription", "immunization_record", "dental_record", "genetic_analysis",
    "oncology_report", "cardiology_report", "radiology_report",
]  # fmt: skip
FEATURE_DETECTION = {
    "name": "feature_detection",
    "parameters": {
        "type": "object",
        "properties": {
            "isMedical": {"type": "boolean"},
            "language": {"type": "string"},
            "documentType": {"type": "string", "enum": DOCUMENT_TYPES},
            **{flag: {"type": "boolean"} for flag in FLAGS},
            "medicalSpecialty": {
                "type": "array",
                "items": {"type": "string", "enum": ["general_medicine", "radiology", "surgery"]},
            },
            "urgencyLevel": {"type": "number", "minimum": 1, "maximum": 5},
            "tags": {"type": "array", "items": {"type": "string", "enum": ["eyes", "heart"]}},
        },
        "required": [
            "isMedical",
            "language",
            "documentType",
            *FLAGS,
            "medicalSpecialty",
            "urgencyLevel",
            "tags",
        ],
        "additionalProperties": False,
    },
}
SIGNAL = {
    "type": "object",
    "properties": {
        "signal": {"type": "string"},
        "value": {"type": "string"},
        "valueType": {"type": "string", "enum": ["number", "text"]},
        "unit": {"type": "string"},
        "reference": {"type": "string"},
        "source": {
            "type": "string",
            "enum": ["", "blood", "urine", "saliva", "stool", "sputum", "cerebrospinal fluid"],
        },
        "urgency": {"type": "number"},
        "date": {"type": "string"},
        "labCategory": {
            "type": "string",
            "enum": [
                "hematology",
                "chemistry",
                "immunology",
                "microbiology",
                "molecular",
                "toxicology",
                "endocrinology",
                "cardiology",
                "oncology",
                "genetics",
            ],
        },
        "searchTerms": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["signal", "date", "value", "valueType", "unit", "reference"],
}
SIGNALS = {
    "name": "extract_signals",
    "parameters": {
        "type": "object",
        "properties": {
            "signals": {"type": "array", "items": SIGNAL},
            "processingConfidence": {"type": "number"},
            "processingNotes": {"type": "string"},
        },
        "required": ["signals", "processingConfidence"],
    },
}
REPORT_CORE = {
    "name": "extract_medical_report_core",
    "parameters": {
        "type": "object",
        "properties": {
            "category": {
                "type": "string",
                "enum": [
                    "general",
                    "laboratory",
                    "vital-signs",
                    "imaging",
                    "exam",
                    "procedure",
                    "medication",
                    "social-history",
                    "survey",
                    "therapy",
                    "activity",
                    "other",
                ],
            },
            "title": {"type": "string"},
            "summary": {"type": "string"},
            "content": {"type": "string"},
            "localizedContent": {"type": "string"},
            "recommendations": {"type": "array"},
            "date": {"type": "string"},
            "isMedical": {"type": "boolean"},
            "confidence": {"type": "number"},
        },
        "required": [
            "category",
            "title",
            "summary",
            "content",
            "localizedContent",
            "recommendations",
            "date",
            "isMedical",
            "confidence",
        ],
    },
}
DOCUMENT_ASSESSOR = {
    "name": "document_assessor",
    "parameters": {
        "type": "object",
        "properties": {
            "documents": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "title": {"type": "string"},
                        "date": {"type": "string"},
                        "language": {"type": "string"},
                        "isMedical": {"type": "boolean"},
                        "isMedicalImaging": {"type": "boolean"},
                        "pages": {"type": "array", "items": {"type": "integer"}},
                        "hasImages": {"type": "boolean"},
                    },
                    "required": [
                        "title",
                        "date",
                        "language",
                        "isMedical",
                        "isMedicalImaging",
                        "pages",
                        "hasImages",
                    ],
                },
            }
        },
        "required": ["documents"],
    },
}
OCR_EXTRACTOR = {
    "name": "ocr_extractor",
    "parameters": {
        "type": "object",
        "properties": {
            "pages": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"page": {"type": "integer"}, "text": {"type": "string"}},
                    "required": ["page", "text"],
                },
            }
        },
        "required": ["pages"],
    },
}
DIAGNOSIS = {
    "name": "extract_diagnosis",
    "parameters": {
        "type": "object",
        "properties": {"diagnosis": {"type": "array"}, "processingConfidence": {"type": "number"}},
        "required": ["diagnosis"],
    },
}


def valid(schema: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    jsonschema.validate(answer, schema["parameters"])
    return answer


def parts(text: str, *images: str) -> list[dict[str, Any]]:
    return [
        {"type": "text", "text": text},
        *({"type": "image_url", "image_url": {"url": u, "detail": "high"}} for u in images),
    ]


def test_ocr_extraction_reads_every_image(report_photos: dict[str, bytes]) -> None:
    content = parts("Extract the text of these pages.", data_url(report_photos["en"]))
    answer = valid(
        OCR_EXTRACTOR,
        ocr_extraction(schema=OCR_EXTRACTOR, system="", content=content, language="English"),
    )
    [page] = answer["pages"]
    assert page["page"] == 1
    assert "Hemoglobin" in page["text"]


def test_document_type_routing_answers_one_document_over_all_pages() -> None:
    text = "\n".join(f"--- PAGE {n} ---\n{REPORTS['cs'].text()}" for n in (1, 2))
    answer = valid(
        DOCUMENT_ASSESSOR,
        document_type_routing(schema=DOCUMENT_ASSESSOR, system="", content=text, language="Czech"),
    )
    assert answer["documents"] == [
        {
            "title": "Laboratorní výsledky",
            "date": "2025-02-12",
            "language": "cs",
            "isMedical": True,
            "isMedicalImaging": False,
            "hasImages": False,
            "pages": [1, 2],
        }
    ]


@pytest.mark.parametrize("language", sorted(REPORTS))
def test_feature_detection_sets_what_rules_can_see(language: str) -> None:
    answer = valid(
        FEATURE_DETECTION,
        feature_detection(
            schema=FEATURE_DETECTION,
            system="",
            content=parts(REPORTS[language].text()),
            language=None,
        ),
    )
    assert answer["isMedical"] is True
    assert answer["hasSignals"] is True
    assert answer["documentType"] == "laboratory_results"
    assert answer["language"] == language
    assert answer["urgencyLevel"] == 3  # abnormal values, none critical
    assert answer["medicalSpecialty"] == ["general_medicine"]
    assert [flag for flag in FLAGS if answer[flag]] == ["hasSummary", "hasSignals"]


def test_feature_detection_of_a_grocery_list() -> None:
    text = "Grocery list\nBread\nMilk\nApples"
    answer = valid(
        FEATURE_DETECTION, feature_detection(schema=FEATURE_DETECTION, content=text, language="en")
    )
    assert answer["isMedical"] is False
    assert not any(answer[flag] for flag in FLAGS)


@pytest.mark.parametrize("language", sorted(REPORTS))
def test_signal_extraction_answers_the_clients_signal_schema(language: str) -> None:
    answer = valid(
        SIGNALS,
        extraction(
            schema=SIGNALS, system="", content=parts(REPORTS[language].text()), language="English"
        ),
    )
    assert len(answer["signals"]) == len(REPORTS[language].rows)
    assert 0 < answer["processingConfidence"] <= 1


def test_report_core_extraction() -> None:
    answer = valid(
        REPORT_CORE,
        extraction(schema=REPORT_CORE, content=parts(REPORTS["de"].text()), language="German"),
    )
    assert answer["category"] == "laboratory"
    assert answer["title"] == "Laborbefund"
    assert answer["date"] == "2025-01-27"
    assert "Gamma-GT" in answer["content"]


def test_other_nodes_get_the_schemas_empty_answer() -> None:
    answer = valid(
        DIAGNOSIS,
        extraction(schema=DIAGNOSIS, content=parts(REPORTS["en"].text()), language="English"),
    )
    assert answer == {"diagnosis": []}


def test_empty_instance_fills_required_fields_only() -> None:
    node = {
        "type": "object",
        "properties": {
            "a": {"type": "string", "enum": ["x", "y"]},
            "b": {
                "type": "object",
                "properties": {"c": {"type": "integer", "minimum": 1}},
                "required": ["c"],
            },
            "d": {"type": "string"},
        },
        "required": ["a", "b"],
    }
    assert empty_instance(node) == {"a": "x", "b": {"c": 1}}


def test_register_all_registers_every_flow() -> None:
    registered: dict[str, object] = {}
    register_all(lambda flow, fn: registered.__setitem__(flow, fn))
    assert registered == LOCAL_FLOWS
    assert set(registered) == {
        "ocr_extraction",
        "document_type_routing",
        "feature_detection",
        "extraction",
    }
