"""The extraction node table (contract 7.3 step 5): schema, triggers, priority, output key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Node:
    name: str
    schema: str  # a file in imports_app/schemas/
    triggers: tuple[str, ...]
    priority: int
    output: str  # the state / report key
    unwrap: str | None = None  # the field to take out of the function's wrapper object
    main_report: bool = False


NODES: tuple[Node, ...] = (
    Node("medical-analysis", "report_core", ("isMedical",), 1, "report", main_report=True),
    Node("diagnosis-processing", "diagnosis", ("hasDiagnosis",), 1, "diagnosis", "diagnosis"),
    Node("performer-processing", "performer", ("isMedical",), 1, "performer", "performer"),
    Node("patient-processing", "patient", ("isMedical",), 1, "patient", "patient"),
    Node("body-parts-processing", "body_parts", ("isMedical",), 1, "bodyParts", "bodyParts"),
    Node("signal-processing", "signals", ("hasSignals",), 1, "signals", "signals"),
    Node("ecg-processing", "ecg", ("hasECG",), 2, "ecg"),
    Node("imaging-processing", "imaging", ("hasImaging",), 2, "imaging"),
    Node(
        "imaging-findings-processing",
        "imaging_findings",
        ("hasImagingFindings",),
        2,
        "imagingFindings",
    ),
    Node("echo-processing", "echo", ("hasEcho",), 2, "echo"),
    Node("allergies-processing", "allergies", ("hasAllergies",), 2, "allergies"),
    Node(
        "medications-processing",
        "medications",
        ("hasPrescriptions", "hasMedications"),
        2,
        "medications",
    ),
    Node("procedures-processing", "procedures", ("hasProcedures",), 3, "procedures"),
    Node("anesthesia-processing", "anesthesia", ("hasAnesthesia",), 3, "anesthesia"),
    Node("microscopic-processing", "microscopic", ("hasMicroscopic",), 3, "microscopic"),
    Node("triage-processing", "triage", ("hasTriage",), 3, "triage"),
    Node("immunization-processing", "immunization", ("hasImmunizations",), 3, "immunizations"),
    Node("specimens-processing", "specimens", ("hasSpecimens",), 4, "specimens"),
    Node("admission-processing", "admission", ("hasAdmission",), 4, "admission"),
    Node("dental-processing", "dental", ("hasDental",), 4, "dental"),
    Node(
        "tumor-characteristics-processing",
        "tumor_characteristics",
        ("hasTumorCharacteristics",),
        5,
        "tumorCharacteristics",
    ),
    Node("treatment-plan-processing", "treatment_plan", ("hasTreatmentPlan",), 5, "treatmentPlan"),
    Node(
        "treatment-response-processing",
        "treatment_response",
        ("hasTreatmentResponse",),
        5,
        "treatmentResponse",
    ),
    Node("gross-findings-processing", "gross_findings", ("hasGrossFindings",), 5, "grossFindings"),
    Node("special-stains-processing", "special_stains", ("hasSpecialStains",), 5, "specialStains"),
    Node("social-history-processing", "social_history", ("hasSocialHistory",), 5, "socialHistory"),
    Node("treatments-processing", "treatments", ("hasTreatments",), 5, "treatments"),
    Node("assessment-processing", "assessment", ("hasAssessment",), 5, "assessment"),
    Node("molecular-processing", "molecular", ("hasMolecular",), 5, "molecular"),
)

WRAPPER_KEYS = ("documentContext", "processingNotes", "processingConfidence")


def selected(flags: Mapping[str, object]) -> list[Node]:
    """Every node one of whose triggers is true."""
    return [node for node in NODES if any(flags.get(t) is True for t in node.triggers)]


def groups(nodes: list[Node]) -> list[list[Node]]:
    """The nodes grouped by priority, highest priority (lowest number) first."""
    by_priority: dict[int, list[Node]] = {}
    for node in nodes:
        by_priority.setdefault(node.priority, []).append(node)
    return [by_priority[p] for p in sorted(by_priority)]
