"""The medical-imaging workflow (contract 7.6): patient_performer_detection (0-50) then
medical_imaging_analysis (50-100), and the two response shapes of 2.3."""

from __future__ import annotations

import datetime as dt
from typing import Any

from mediqom.ai import structured_call
from mediqom.errors import InvalidInput

from .assess import image_parts
from .progress import ProgressFn, no_progress, scaled
from .prompts import MEDICAL_SYSTEM
from .schemas import schema
from .usage import Usage

WORKFLOW_NODES = ["patient_performer_detection", "medical_imaging_analysis"]


def _clamp(value: Any, low: float, high: float, default: float) -> float:
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else default
    return float(min(max(number, low), high))


def _context(metadata: dict[str, Any]) -> str:
    dicom = metadata.get("dicomMetadata") or {}
    if not isinstance(dicom, dict) or not dicom:
        return ""
    keys = ("modality", "bodyPartExamined", "studyDescription", "viewPosition", "studyDate")
    lines = [f"{key}: {dicom[key]}" for key in keys if dicom.get(key)]
    return "DICOM metadata:\n" + "\n".join(lines) if lines else ""


def run_medical_imaging_workflow(
    *,
    images: list[str],
    language: str = "English",
    metadata: dict[str, Any] | None = None,
    progress: ProgressFn = no_progress,
    usage: Usage | None = None,
) -> dict[str, Any]:
    """The workflow state: patientInfo, medicalPerformers, imageAnalysis, detectedBodyParts,
    detectedAnomalies, measurements, primaryAnatomicalRegion, urgentFindings, imagingMetadata
    and medicalImagingAnalysis (the unified result)."""
    if not images:
        raise InvalidInput("No medical images provided", code="import_no_images")
    usage = usage or Usage()
    metadata = metadata or {}
    raw_dicom = metadata.get("dicomMetadata")
    dicom: dict[str, Any] = raw_dicom if isinstance(raw_dicom, dict) else {}
    context = _context(metadata)
    content: list[dict[str, Any]] = [*image_parts(images)]
    if context:
        content.append({"type": "text", "text": context})

    first = scaled(progress, 0, 50)
    first("patient_performer_detection", 0, "Detecting patient and performer information")
    detected = structured_call(
        flow="medical_analysis",
        schema=schema("patient_performer_detection"),
        system=MEDICAL_SYSTEM,
        content=content,
        language=language,
    )
    usage.add("patient_performer_detection", detected)
    first("patient_performer_detection", 100, "Patient and performer detection completed")
    performers = [p for p in detected.data.get("performers") or [] if isinstance(p, dict)]

    second = scaled(progress, 50, 100)
    second("medical_imaging_analysis", 0, "Analysing the medical images")
    analysed = structured_call(
        flow="medical_analysis",
        schema=schema("medical_imaging_analysis"),
        system=MEDICAL_SYSTEM,
        content=content,
        language=language,
    )
    usage.add("unified_medical_imaging_analysis", analysed)
    analysis = analysed.data
    second("medical_imaging_analysis", 100, "Medical imaging analysis completed")

    overall = analysis.get("overallAssessment") or {}
    urgent = bool(overall.get("hasUrgentFindings"))
    confidence = _clamp(overall.get("overallConfidence"), 0, 1, 0.8)
    anomalies = list(analysis.get("anomalies") or [])
    body_parts = list(analysis.get("bodyParts") or [])
    modality = str(analysis.get("modality") or "unknown")
    region = str(analysis.get("anatomicalRegion") or "")
    primary = next(
        (p for p in performers if p.get("isPrimary")), performers[0] if performers else None
    )
    report = {
        "title": dicom.get("studyDescription")
        or f"{modality} {region}".strip()
        or "Medical Imaging Study",
        "date": dicom.get("studyDate") or dt.datetime.now(dt.UTC).date().isoformat(),
        "category": "imaging",
        "summary": overall.get("summary") or "Medical imaging analysis completed",
        "diagnosis": [
            {"name": finding, "confidence": confidence}
            for finding in overall.get("primaryFindings") or []
        ],
        "bodyParts": body_parts,
        "recommendations": [
            {"description": action, "urgency": 4 if urgent else 2}
            for action in overall.get("recommendedActions") or []
        ],
        "patient": detected.data.get("patient"),
        "performer": primary,
        "imaging": [
            {
                "type": "medical_image_analysis",
                "modality": modality,
                "anatomicalRegion": region,
                "viewPosition": analysis.get("viewPosition"),
                "imageQuality": analysis.get("imageQuality"),
                "visualDescription": analysis.get("visualDescription"),
                "anomalies": anomalies,
                "overallAssessment": overall,
                "technicalQuality": analysis.get("technicalQuality") or {},
                "confidence": confidence,
            }
        ],
        "content": analysis.get("visualDescription") or "",
        "localizedContent": analysis.get("visualDescription") or "",
        "isMedical": True,
        "confidence": confidence,
        "signals": [],
        "medications": [],
        "prescriptions": [],
        "procedures": [],
        "immunizations": [],
    }
    unified = {
        "type": "medical_imaging",
        "fhirType": "ImagingStudy",
        "fhir": {},
        "category": "medical_imaging",
        "isMedical": True,
        "tags": ["medical_imaging", modality.lower(), *(["urgent"] if urgent else [])],
        "hasPrescription": False,
        "hasImmunization": False,
        "hasLabOrVitals": False,
        "content": analysis.get("visualDescription") or "Medical imaging analysis",
        "text": analysis.get("visualDescription") or "",
        "report": report,
        "tokenUsage": dict(usage.tokens),
        "confidence": confidence,
        "processingComplexity": "medical_imaging",
        "documentType": "medical_imaging",
        "schemaUsed": "medical_imaging_v1",
        "processing": usage.label(),
    }
    measurements = [
        a.get("measurements") for a in anomalies if isinstance(a, dict) and a.get("measurements")
    ]
    return {
        "patientInfo": detected.data.get("patient"),
        "medicalPerformers": performers,
        "imageAnalysis": {
            "description": analysis.get("visualDescription"),
            "confidence": confidence,
            "visualElements": [
                f"Modality: {modality}",
                f"Region: {region}",
                f"Quality: {analysis.get('imageQuality')}",
            ],
            "imageQuality": analysis.get("imageQuality"),
        },
        "detectedBodyParts": body_parts,
        "detectedAnomalies": anomalies,
        "measurements": measurements,
        "primaryAnatomicalRegion": region,
        "urgentFindings": [a for a in anomalies if isinstance(a, dict) and a.get("urgentFinding")],
        "imagingMetadata": {
            **(dicom or {}),
            "modality": modality,
            "bodyPartExamined": region,
            "viewPosition": analysis.get("viewPosition"),
            "imageQuality": analysis.get("imageQuality"),
            "technicalQuality": analysis.get("technicalQuality"),
        },
        "medicalImagingAnalysis": unified,
        "tokenUsage": dict(usage.tokens),
    }


def imaging_response(
    state: dict[str, Any], *, images: list[str], language: str, metadata: dict[str, Any]
) -> dict[str, Any]:
    """The non-streaming `POST /v1/import/medical-imaging` answer (contract 2.3)."""
    dicom = metadata.get("dicomMetadata") if isinstance(metadata.get("dicomMetadata"), dict) else {}
    return {
        "pages": [{"page": 1, "text": "", "image": images[0], "thumbnail": images[0]}],
        "documents": [
            {
                "title": (dicom or {}).get("studyDescription") or "Medical Imaging Study",
                "date": (dicom or {}).get("studyDate")
                or dt.datetime.now(dt.UTC).date().isoformat(),
                "language": language.lower(),
                "isMedical": True,
                "isMedicalImaging": True,
                "pages": [1],
            }
        ],
        "medicalImageAnalysis": {
            "visualAnalysis": state["imageAnalysis"],
            "bodyParts": state["detectedBodyParts"],
            "anomalies": state["detectedAnomalies"],
            "measurements": state["measurements"],
            "primaryRegion": state["primaryAnatomicalRegion"],
            "urgentFindings": state["urgentFindings"],
            "imagingMetadata": state["imagingMetadata"],
        },
        "metadata": {
            "processingType": "medical_imaging",
            "isDicomExtracted": bool(metadata.get("isDicomExtracted")),
            "dicomMetadata": dicom or None,
            "analysisTimestamp": dt.datetime.now(dt.UTC).isoformat(),
            "workflowVersion": "1.0",
            "nodesExecuted": list(WORKFLOW_NODES),
        },
        "tokenUsage": {"total": state["tokenUsage"].get("total", 0)},
    }


def imaging_stream_result(
    state: dict[str, Any], *, images: list[str], language: str, metadata: dict[str, Any]
) -> dict[str, Any]:
    """The `complete` data of `POST /v1/import/medical-imaging/stream` (contract 2.3): the
    unified result plus isMedicalImaging, page placeholders (the images stay with the client),
    documents and metadata (workflowVersion 2.0)."""
    plain = imaging_response(state, images=images, language=language, metadata=metadata)
    numbers = list(range(1, len(images) + 1))
    return {
        **state["medicalImagingAnalysis"],
        "isMedicalImaging": True,
        "pages": [
            {
                "page": n,
                "text": "",
                "image": f"medical-image-{n}",
                "thumbnail": f"medical-thumbnail-{n}",
            }
            for n in numbers
        ],
        "documents": [{**plain["documents"][0], "pages": numbers}],
        "metadata": {**plain["metadata"], "workflowVersion": "2.0"},
    }
