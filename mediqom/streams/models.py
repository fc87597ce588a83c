"""The durable event log behind every live stream (sessions, imports): one row per stream, one
row per event with a per-stream monotonic `seq`; payloads are encrypted at rest."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from crypto_app.fields import EncryptedTextField
from mediqom.streams.querysets import StreamEventQuerySet, StreamQuerySet


class Stream(models.Model):
    """A stream key (`session:<id>`, `import_job:<id>`), its owning profile and its counters.

    `last_seq` is the newest sequence number handed out; events up to `trimmed_seq` were purged
    (a client asking for older ones gets a `reset`). `ended_at` starts the retention TTL.
    """

    key = models.TextField(primary_key=True)
    owner_id = models.UUIDField(db_index=True)
    last_seq = models.BigIntegerField(default=0)
    trimmed_seq = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True, db_index=True)

    objects = StreamQuerySet.as_manager()

    class Meta:
        db_table = "streams"

    def __str__(self) -> str:
        return f"stream {self.key}"


class StreamEvent(models.Model):
    """One stored event; `payload` is the compact JSON the clients receive, encrypted."""

    id = models.BigAutoField(primary_key=True)
    # no index of its own: the unique (stream_key, seq) index serves every lookup by stream
    # (reads, purge, the FK cascade), and each index less is less work per append
    stream = models.ForeignKey(
        Stream,
        on_delete=models.CASCADE,
        db_column="stream_key",
        related_name="events",
        db_index=False,
    )
    seq = models.BigIntegerField()
    type = models.TextField()
    payload = EncryptedTextField()
    owner_id = models.UUIDField(db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = StreamEventQuerySet.as_manager()

    class Meta:
        db_table = "stream_events"
        constraints = [
            models.UniqueConstraint(fields=["stream", "seq"], name="stream_events_stream_seq_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.stream_id}#{self.seq} {self.type}"
