"""Import jobs (contract table `import_jobs`, 5.1 / 6.5).

Nothing readable about the patient is stored in plain text: the uploaded manifest (page images,
names, DICOM metadata) lives in `manifest` encrypted with the server's field keys (the images
are dropped once extracted); results are stored only as the client-decryptable triple
`result_encryption_key` + `encrypted_extraction_result` + `encrypted_analysis_results`; the
server's own resume state (`checkpoint`) is field-encrypted and cleared when the job ends. The
plaintext columns of the reference (`extraction_result`, `analysis_results`) stay empty.
`file_manifest` keeps only non-identifying metadata (type, size, task type, page count).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from crypto_app.fields import EncryptedTextField
from imports_app.querysets import ImportJobQuerySet

STATUSES = ("created", "extracting", "analyzing", "completed", "error", "expired")
PROCESSING = ("extracting", "analyzing")


class ImportJob(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user_id = models.UUIDField(db_index=True)
    status = models.TextField(default="created", db_index=True)
    stage = models.TextField(null=True, blank=True)
    progress = models.IntegerField(default=0)
    message = models.TextField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)
    scan_deducted = models.BooleanField(default=False)
    processing_started_at = models.DateTimeField(null=True, blank=True)
    file_count = models.IntegerField(default=0)
    file_manifest = models.JSONField(default=list)
    language = models.TextField(default="English")
    extraction_result = models.JSONField(null=True, blank=True)
    analysis_results = models.JSONField(null=True, blank=True)
    encrypted_extraction_result = models.TextField(null=True, blank=True)
    encrypted_analysis_results = models.TextField(null=True, blank=True)
    result_encryption_key = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Ours: the full manifest and the resume state, encrypted with the server's field keys;
    # where the charged scan came from (refunds); the stream position this run started at.
    manifest = EncryptedTextField(null=True, blank=True)
    checkpoint = EncryptedTextField(null=True, blank=True)
    scan_source = models.TextField(null=True, blank=True)
    run_since = models.BigIntegerField(default=0)
    # The last operator reprocessing (manage.py reprocess_imports): {key, at, mode}. `key`
    # identifies the configuration it ran with (rerunning with the same one skips the job),
    # `at` equals processing_started_at while that run holds the claim. No patient data.
    reprocess = models.JSONField(null=True, blank=True)

    objects = ImportJobQuerySet.as_manager()

    class Meta:
        db_table = "import_jobs"
        indexes = [models.Index(fields=["user_id", "-created_at"], name="import_jobs_user_created")]

    def __str__(self) -> str:
        return f"import job {self.id} ({self.status})"

    @property
    def stream_key(self) -> str:
        return f"import_job:{self.id}"
