"""Input serializers and output shapes of the import endpoints (contract 2.3)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from imports_app.models import ImportJob
from imports_app.selectors import job_manifest
from imports_app.validation import safe_filename, validate_data_url, validate_pages
from mediqom.errors import InvalidInput, PayloadTooLarge

TASK_TYPES = ("application/pdf", "images", "application/dicom")
LANGUAGES = ("English", "Czech", "German")


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
