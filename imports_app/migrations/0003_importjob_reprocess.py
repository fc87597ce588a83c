"""The marker of the last operator reprocessing (manage.py reprocess_imports)."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("imports_app", "0002_row_level_security")]
    operations = [
        migrations.AddField(
            model_name="importjob",
            name="reprocess",
            field=models.JSONField(blank=True, null=True),
        ),
    ]
