from __future__ import annotations

from django.apps import AppConfig


class SerenityConfig(AppConfig):
    name = "mediqom.serenity"
    label = "serenity"
    verbose_name = "SERENITY form scoring"

    def ready(self) -> None:
        from mediqom.ai import register_local
        from mediqom.serenity.lexicon import local_form_analysis
        from mediqom.serenity.services import FLOW

        register_local(FLOW, local_form_analysis)
