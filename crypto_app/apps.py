from __future__ import annotations

from django.apps import AppConfig


class CryptoAppConfig(AppConfig):
    name = "crypto_app"
    default_auto_field = "django.db.models.BigAutoField"
