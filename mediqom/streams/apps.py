from __future__ import annotations

from django.apps import AppConfig


class StreamsConfig(AppConfig):
    name = "mediqom.streams"
    label = "streams"
    verbose_name = "Live event streams"
    default_auto_field = "django.db.models.BigAutoField"
