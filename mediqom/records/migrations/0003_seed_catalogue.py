"""Billing catalogue seed (contract §5.2): tiers free/caretaker/family and pack_50."""

from __future__ import annotations

from typing import Any

from django.db import migrations

TIERS = [
    {
        "id": "free",
        "name": "Free",
        "profile_limit": 1,
        "scan_limit": 5,
        "price_monthly_eur": 0,
        "price_yearly_eur": 0,
        "sort_order": 0,
    },
    {
        "id": "caretaker",
        "name": "Caretaker",
        "profile_limit": 3,
        "scan_limit": 50,
        "price_monthly_eur": 499,
        "price_yearly_eur": 4900,
        "sort_order": 1,
    },
    {
        "id": "family",
        "name": "Family",
        "profile_limit": None,
        "scan_limit": 200,
        "price_monthly_eur": 999,
        "price_yearly_eur": 9900,
        "sort_order": 2,
    },
]


def seed(apps: Any, schema_editor: Any) -> None:
    tier_model = apps.get_model("records", "SubscriptionTier")
    pack_model = apps.get_model("records", "ScanPack")
    for tier in TIERS:
        tier_model.objects.update_or_create(id=tier["id"], defaults=tier)
    pack_model.objects.update_or_create(
        id="pack_50", defaults={"name": "50 scans", "scans": 50, "price_eur": 1000}
    )


class Migration(migrations.Migration):
    dependencies = [("records", "0002_row_level_security")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
