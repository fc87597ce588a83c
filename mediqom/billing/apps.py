from __future__ import annotations

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "mediqom.billing"
    label = "billing"
    verbose_name = "Billing and beta access"
    default_auto_field = "django.db.models.BigAutoField"
