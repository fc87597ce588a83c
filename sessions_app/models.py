"""Live consultation sessions, persisted: state, transcripts, the merged analysis, feedback.

Patient text (transcripts, analyses, report, client-supplied context, feedback content) is
stored with field encryption (crypto_app.fields): the database holds only ciphertext.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.utils import timezone

from crypto_app.fields import EncryptedTextField
from sessions_app.querysets import (
    SessionFeedbackQuerySet,
    SessionQuerySet,
    SessionTranscriptQuerySet,
)

STATUS_ACTIVE = "active"
STATUS_ENDED = "ended"
STATUSES = [(STATUS_ACTIVE, "active"), (STATUS_ENDED, "ended")]
FEEDBACK_VALUES = ("approved", "rejected", "neutral")


class ConsultationSession(models.Model):
    """One consultation. Its events live in the session's stream; counts are kept here."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        "records.Profile", on_delete=models.CASCADE, db_column="owner_id", related_name="+"
    )
    status = models.CharField(max_length=16, choices=STATUSES, default=STATUS_ACTIVE)
    language = models.CharField(max_length=8, default="en")
    models_requested = models.JSONField(default=list, db_column="models")
    translate = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_activity_at = models.DateTimeField(default=timezone.now, db_index=True)
    ended_at = models.DateTimeField(null=True, blank=True, db_index=True)
    end_reason = models.CharField(max_length=16, blank=True, default="")
    transcript_count = models.PositiveIntegerField(default=0)
    transcript_chars = models.PositiveIntegerField(default=0)
    event_count = models.PositiveIntegerField(default=0)
    analysis_count = models.PositiveIntegerField(default=0)
    # Background analysis: at most one run in flight; text added meanwhile is coalesced.
    analysis_running = models.BooleanField(default=False)
    analysis_started_at = models.DateTimeField(null=True, blank=True)
    analysis_last_at = models.DateTimeField(null=True, blank=True)
    analysis_chars = models.PositiveIntegerField(default=0)  # transcript length analysed so far
    analysis_provider = models.CharField(max_length=32, blank=True, default="")
    # OpenAI conversation state (the reference's "thread"), optional.
    openai_conversation_id = models.CharField(max_length=128, blank=True, default="")
    # Encrypted JSON documents (patient data).
    analysis = EncryptedTextField(blank=True, default="")
    transcript_analysis = EncryptedTextField(blank=True, default="")
    report = EncryptedTextField(blank=True, default="")
    context = EncryptedTextField(blank=True, default="")

    objects = SessionQuerySet.as_manager()

    class Meta:
        db_table = "consultation_sessions"
        indexes = [models.Index(fields=["owner", "-created_at"], name="consult_sessions_owner_idx")]

    def __str__(self) -> str:
        return f"session {self.id}"

    @property
    def duration_seconds(self) -> int:
        end = self.ended_at or self.last_activity_at
        return max(int((end - self.created_at).total_seconds()), 0)


class SessionTranscript(models.Model):
    """One transcribed chunk of a session, in order; its text is encrypted at rest."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey(
        ConsultationSession, on_delete=models.CASCADE, related_name="transcripts"
    )
    owner = models.ForeignKey(
        "records.Profile", on_delete=models.CASCADE, db_column="owner_id", related_name="+"
    )
    position = models.PositiveIntegerField()
    chunk_id = models.CharField(max_length=128, blank=True, default="")
    sequence_number = models.IntegerField(null=True, blank=True)
    client_timestamp = models.BigIntegerField(null=True, blank=True)
    text = EncryptedTextField()
    confidence = models.FloatField(default=0.8)
    speaker = models.CharField(max_length=16, blank=True, default="")
    is_final = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = SessionTranscriptQuerySet.as_manager()

    class Meta:
        db_table = "session_transcripts"
        constraints = [
            models.UniqueConstraint(fields=["session", "position"], name="session_transcript_pos")
        ]
        ordering = ["position"]

    def __str__(self) -> str:
        return f"transcript {self.session_id}#{self.position}"

    def as_partial(self) -> dict[str, Any]:
        """The contract's PartialTranscript."""
        data: dict[str, Any] = {
            "id": str(self.id),
            "text": self.text,
            "confidence": self.confidence,
            "timestamp": self.client_timestamp or int(self.created_at.timestamp() * 1000),
            "is_final": self.is_final,
            "sessionId": str(self.session_id),
        }
        if self.speaker:
            data["speaker"] = self.speaker
        if self.sequence_number is not None:
            data["sequenceNumber"] = self.sequence_number
        return data


class SessionFeedback(models.Model):
    """A clinician's verdict on a suggested item (`POST /v1/session/feedback`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        "records.Profile", on_delete=models.CASCADE, db_column="owner_id", related_name="+"
    )
    session = models.ForeignKey(
        ConsultationSession, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    item_type = models.CharField(max_length=64)
    item_content = EncryptedTextField()
    feedback = models.CharField(max_length=16)
    client_timestamp = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    objects = SessionFeedbackQuerySet.as_manager()

    class Meta:
        db_table = "session_feedback"

    def __str__(self) -> str:
        return f"feedback {self.id}"
