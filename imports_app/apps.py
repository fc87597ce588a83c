from __future__ import annotations

from django.apps import AppConfig


class ImportsAppConfig(AppConfig):
    name = "imports_app"
    default_auto_field = "django.db.models.BigAutoField"
