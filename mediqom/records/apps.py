from __future__ import annotations

from django.apps import AppConfig


class RecordsConfig(AppConfig):
    name = "mediqom.records"
    label = "records"
    verbose_name = "Medical records"
    default_auto_field = "django.db.models.BigAutoField"
