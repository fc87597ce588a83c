from __future__ import annotations

from django.apps import AppConfig


class ImportsAppConfig(AppConfig):
    name = "imports_app"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The offline `local` provider's flows go through the AI layer like any provider's:
        # routing, fallbacks (`local` in fallback_providers) and the local label in one path.
        from imports_app.local.flows import register_all
        from mediqom.ai import register_local

        register_all(register_local)
