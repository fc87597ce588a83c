"""Input serializers and output shapes of the import endpoints (contract 2.3)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from imports_app.models import ImportJob
from imports_app.oneshot import ExtractInput, ImagingInput, ReportInput
from imports_app.pipeline.pages import Page, image_page, pdf_pages
from imports_app.selectors import job_manifest
from imports_app.validation import (
    MAX_DICOM_METADATA_CHARS,
    PdfInput,
    safe_filename,
    validate_data_url,
    validate_document_data_url,
    validate_pages,
    validate_text,
)
from mediqom.errors import InvalidInput, PayloadTooLarge

TASK_TYPES = ("application/pdf", "images", "application/dicom")
LANGUAGES = ("English", "Czech", "German")
DICOM_KEYS = ("modality", "bodyPartExamined", "studyDescription", "viewPosition", "studyDate")


class FileManifestEntryInput(serializers.Serializer):  # type: ignore[type-arg]
    name = serializers.CharField(max_length=255)
    type = serializers.CharField(max_length=100, allow_blank=True)
    size = serializers.IntegerField(min_value=0)
    taskType = serializers.ChoiceField(choices=TASK_TYPES)
    processedImages = serializers.ListField(
        child=serializers.CharField(trim_whitespace=False), allow_empty=False
    )
    dicomMetadata = serializers.DictField(required=False, allow_null=True)
    thumbnail = serializers.CharField(required=False, allow_null=True, trim_whitespace=False)

    def validate_name(self, value: str) -> str:
        return safe_filename(value)


def parse_job_create(data: Any) -> dict[str, Any]:
    """The create body, with the reference's messages: 400 "No files provided"; limits."""
    if not isinstance(data, dict):
        raise InvalidInput("The request body must be a JSON object", code="invalid_body")
    files = data.get("files")
    if not isinstance(files, list) or not files:
        raise InvalidInput("No files provided", code="import_no_files")
    if len(files) > settings.MEDIQOM_IMPORT_MAX_FILES:
        raise PayloadTooLarge("Too many files in one import", code="import_too_many_files")
    serializer = FileManifestEntryInput(data=files, many=True)
    serializer.is_valid(raise_exception=True)
    entries: list[dict[str, Any]] = [dict(e) for e in serializer.validated_data]
    pages = sum(len(e["processedImages"]) for e in entries)
    if pages > settings.MEDIQOM_IMPORT_MAX_PAGES:
        raise PayloadTooLarge("Too many pages in one import", code="import_too_many_pages")
    # Every page is checked before anything is stored or charged: real image by its magic
    # bytes, its declared type, size and pixel caps (imports_app.validation).
    for entry in entries:
        validate_pages(entry["processedImages"])
        if entry.get("thumbnail"):
            validate_data_url(entry["thumbnail"])
    language = data.get("language", "English")
    if language not in LANGUAGES:
        raise InvalidInput(
            "Unsupported language", code="invalid", fields={"language": ["Unsupported language"]}
        )
    return {"files": entries, "language": language}


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def job_summary(job: ImportJob) -> dict[str, Any]:
    """A job as `GET /v1/import/jobs` lists it."""
    return {
        "id": str(job.id),
        "status": job.status,
        "stage": job.stage,
        "progress": job.progress,
        "message": job.message,
        "error": job.error,
        "file_count": job.file_count,
        "file_manifest": job_manifest(job),
        "language": job.language,
        "created_at": _iso(job.created_at),
        "updated_at": _iso(job.updated_at),
        "expires_at": _iso(job.expires_at),
    }


def job_detail(job: ImportJob) -> dict[str, Any]:
    """All columns of the contract's row (the plaintext result columns always null)."""
    return {
        **job_summary(job),
        "user_id": str(job.user_id),
        "scan_deducted": job.scan_deducted,
        "processing_started_at": _iso(job.processing_started_at),
        "extraction_result": None,
        "analysis_results": None,
        "encrypted_extraction_result": job.encrypted_extraction_result,
        "encrypted_analysis_results": job.encrypted_analysis_results,
        "result_encryption_key": job.result_encryption_key,
    }


# ---------------------------------------------------------------- one-shot imports


def _body(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidInput("The request body must be a JSON object", code="invalid_body")
    return data


def _language(data: dict[str, Any]) -> str:
    """A full English name (§8.9), any case; English when absent."""
    value = data.get("language")
    if value in (None, ""):
        return "English"
    match = next(
        (name for name in LANGUAGES if isinstance(value, str) and value.lower() == name.lower()),
        None,
    )
    if match is None:
        raise InvalidInput(
            "Unsupported language", code="invalid", fields={"language": ["Unsupported language"]}
        )
    return match


def _image_list(value: Any, *, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidInput(
            "images must be a list of data URLs", code="invalid", fields={field: ["Not a list"]}
        )
    if len(value) > settings.MEDIQOM_IMPORT_MAX_PAGES:
        raise PayloadTooLarge("Too many pages in one import", code="import_too_many_pages")
    return value


def _pages(urls: list[Any], *, allow_pdf: bool) -> tuple[list[Page], list[str]]:
    """Every image / PDF validated (magic bytes, sizes, pixel and page caps) before anything
    is charged; PDFs rendered to page images. Returns (pages, the validated data URLs)."""
    checked = [
        validate_document_data_url(url) if allow_pdf else validate_data_url(url) for url in urls
    ]
    total = sum(item.pages if isinstance(item, PdfInput) else 1 for item in checked)
    if total > settings.MEDIQOM_IMPORT_MAX_PAGES:
        raise PayloadTooLarge("Too many pages in one import", code="import_too_many_pages")
    pages: list[Page] = []
    for url, item in zip(urls, checked, strict=True):
        if isinstance(item, PdfInput):
            pages.extend(pdf_pages(item.data))
        else:
            pages.append(image_page(url, item.data))
    return pages, list(urls)


def _text(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise InvalidInput("Text must be a string", code="invalid", fields={"text": ["Not text"]})
    return validate_text(value).text


def parse_extract(data: Any) -> ExtractInput:
    """`{images?: data URLs (page images or whole PDFs), text?, language?}`: 400 without
    either (the reference's rule), then every input checked."""
    body = _body(data)
    images, text = body.get("images"), body.get("text")
    if images in (None, []) and text in (None, ""):
        raise InvalidInput("Provide page images or text", code="no_input")
    pages, sources = (
        _pages(_image_list(images, field="images"), allow_pdf=True)
        if images not in (None, [])
        else ([], [])
    )
    return ExtractInput(
        pages=pages,
        sources=sources,
        text=None if pages else _text(text),
        language=_language(body),
    )


def parse_report(data: Any) -> ReportInput:
    """`{text?, images?, language}` (400 when both are missing); text wins over images."""
    body = _body(data)
    images, text = body.get("images"), body.get("text")
    if images in (None, []) and text in (None, ""):
        raise InvalidInput("Provide page images or text", code="no_input")
    clean = _text(text)
    pages: list[Page] = []
    if clean is None:
        pages, _ = _pages(_image_list(images, field="images"), allow_pdf=True)
    return ReportInput(pages=pages, text=clean, language=_language(body))


def parse_imaging(data: Any) -> ImagingInput:
    """`{images: non-empty image data URLs, language?, metadata?: {isDicomExtracted?,
    dicomMetadata?}}` (400 "No medical images provided")."""
    body = _body(data)
    images = body.get("images")
    if not isinstance(images, list) or not images:
        raise InvalidInput("No medical images provided", code="import_no_images")
    _pages(_image_list(images, field="images"), allow_pdf=False)
    metadata = body.get("metadata") if body.get("metadata") is not None else {}
    if not isinstance(metadata, dict):
        raise InvalidInput(
            "metadata must be an object", code="invalid", fields={"metadata": ["Not an object"]}
        )
    if len(repr(metadata)) > MAX_DICOM_METADATA_CHARS:
        raise PayloadTooLarge("DICOM metadata is too large", code="metadata_too_large")
    dicom = metadata.get("dicomMetadata")
    if dicom is not None and not isinstance(dicom, dict):
        raise InvalidInput(
            "dicomMetadata must be an object",
            code="invalid",
            fields={"metadata.dicomMetadata": ["Not an object"]},
        )
    clean = {
        "isDicomExtracted": metadata.get("isDicomExtracted") is True,
        "dicomMetadata": {
            key: str(value)[:500]
            for key, value in (dicom or {}).items()
            if key in DICOM_KEYS and isinstance(value, str | int | float)
        }
        or None,
    }
    return ImagingInput(images=list(images), language=_language(body), metadata=clean)
