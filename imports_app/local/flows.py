"""The local provider as per-flow functions for the AI layer's offline registry.

Each has the structured-flow signature `fn(*, schema, system, content, language) -> dict` and
answers in the shape of the function schema it is given (the same JSON a model would return):
required fields are always present, filled with empty values where rules find nothing.
`register_all(register_local)` registers them; this module imports nothing from the AI layer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from imports_app.local import describe
from imports_app.local.provider import analyze_local, split_pages
from imports_app.local.text import decode_data_url, ocr_image, open_image

LocalFlow = Callable[..., dict[str, Any]]
_DOCUMENT_TYPES = {
    "laboratory": "laboratory_results",
    "imaging": "imaging_report",
    "medication": "prescription",
    "exam": "clinical_report",
    "general": "clinical_report",
}
_SPECIALTIES = {"imaging": "radiology"}


def _texts_and_images(content: object) -> tuple[str, list[str]]:
    """The text and the image URLs of a call's content (a string or OpenAI-style parts)."""
    if isinstance(content, str):
        return content, []
    texts: list[str] = []
    images: list[str] = []
    for part in content if isinstance(content, list) else []:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text":
            texts.append(str(part.get("text", "")))
        elif part.get("type") == "image_url":
            url = (part.get("image_url") or {}).get("url")
            if isinstance(url, str):
                images.append(url)
    return "\n".join(texts), images


def _parameters(schema: dict[str, Any]) -> dict[str, Any]:
    parameters = schema.get("parameters", schema)
    return parameters if isinstance(parameters, dict) else {}


def empty_instance(node: dict[str, Any]) -> Any:
    """The emptiest value a JSON schema node accepts: its required fields, each empty."""
    kind = node.get("type")
    if kind == "object":
        properties = node.get("properties") or {}
        return {
            name: empty_instance(properties.get(name) or {}) for name in node.get("required") or []
        }
    if kind == "array":
        return []
    if kind == "boolean":
        return False
    if kind in {"number", "integer"}:
        return node.get("minimum", 0)
    if kind == "string":
        enum = node.get("enum") or []
        return "" if not enum or "" in enum else enum[0]
    return None


def ocr_extraction(
    *, schema: dict[str, Any], system: str = "", content: object, language: str | None = None
) -> dict[str, Any]:
    """`ocr_extractor`: {pages:[{page, text}]}, one per image, by Tesseract."""
    _, images = _texts_and_images(content)
    code = _iso(language)
    return {
        "pages": [
            {"page": number, "text": ocr_image(open_image(decode_data_url(url)), language=code)}
            for number, url in enumerate(images, start=1)
        ]
    }


def document_type_routing(
    *, schema: dict[str, Any], system: str = "", content: object, language: str | None = None
) -> dict[str, Any]:
    """`document_assessor`: one document over all `--- PAGE n ---` pages (no splitting)."""
    text, _ = _texts_and_images(content)
    pages = split_pages(text)
    plain = "\n".join(page_text for _, page_text in pages)
    analysis = analyze_local(text=text, language=_iso(language))
    return {
        "documents": [
            {
                "title": analysis["title"],
                "date": analysis["report"]["date"] or "",
                "language": analysis["language"] or _iso(language) or "",
                "isMedical": analysis["isMedical"],
                "isMedicalImaging": analysis["category"] == "imaging",
                "hasImages": False,
                "pages": [number for number, _ in pages],
            }
        ]
        if plain.strip()
        else []
    }


def feature_detection(
    *, schema: dict[str, Any], system: str = "", content: object, language: str | None = None
) -> dict[str, Any]:
    """`feature_detection`: every flag the schema requires; only the ones rules can see are set."""
    text, _ = _texts_and_images(content)
    analysis = analyze_local(text=text, language=_iso(language))
    properties = _parameters(schema).get("properties") or {}
    out: dict[str, Any] = empty_instance(_parameters(schema))
    category = analysis["category"]
    out.update(
        {
            "isMedical": analysis["isMedical"],
            "language": analysis["language"] or _iso(language) or "",
            "hasSignals": bool(analysis["signals"]),
            "hasImaging": category == "imaging",
            "hasSummary": bool(analysis["isMedical"] and text.strip()),
            "urgencyLevel": max([1, *(s["urgency"] for s in analysis["signals"])]),
        }
    )
    document_types = (properties.get("documentType") or {}).get("enum") or []
    wanted = _DOCUMENT_TYPES.get(category, "clinical_report")
    if not document_types or wanted in document_types:
        out["documentType"] = wanted
    specialties = ((properties.get("medicalSpecialty") or {}).get("items") or {}).get("enum") or []
    specialty = _SPECIALTIES.get(category, "general_medicine")
    out["medicalSpecialty"] = (
        [specialty] if analysis["isMedical"] and specialty in specialties else []
    )
    return {key: value for key, value in out.items() if key in properties or not properties}


def extraction(
    *, schema: dict[str, Any], system: str = "", content: object, language: str | None = None
) -> dict[str, Any]:
    """An extraction node: lab values for `extract_signals`, the main report for
    `extract_medical_report_core`; any other node gets the schema's empty answer."""
    text, _ = _texts_and_images(content)
    name = schema.get("name")
    out: dict[str, Any] = empty_instance(_parameters(schema))
    if name not in {"extract_signals", "extract_medical_report_core"} or not text.strip():
        return out
    analysis = analyze_local(text=text, language=_iso(language))
    if name == "extract_signals":
        out.update({"signals": analysis["signals"], "processingConfidence": analysis["confidence"]})
        return out
    report = analysis["report"]
    out.update(
        {
            "category": report["category"],
            "title": report["title"],
            "summary": report["summary"],
            "content": report["content"],
            "localizedContent": report["localizedContent"],
            "recommendations": [],
            "date": report["date"] or "",
            "isMedical": report["isMedical"],
            "confidence": report["confidence"],
        }
    )
    return out


LOCAL_FLOWS: dict[str, LocalFlow] = {
    "ocr_extraction": ocr_extraction,
    "document_type_routing": document_type_routing,
    "feature_detection": feature_detection,
    "extraction": extraction,
}


def register_all(register: Callable[[str, LocalFlow], None]) -> None:
    """`register_all(mediqom.ai.register_local)`, e.g. from ImportsAppConfig.ready()."""
    for flow, fn in LOCAL_FLOWS.items():
        register(flow, fn)


def _iso(language: str | None) -> str | None:
    return describe.iso_language(language)
