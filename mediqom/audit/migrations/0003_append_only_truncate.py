"""audit_log: the append-only trigger also refuses TRUNCATE (a statement trigger; the row
triggers of 0002 do not fire for it), for everyone, the owner included."""

from __future__ import annotations

from typing import Any

from django.db import migrations

SQL = r"""
drop trigger if exists audit_log_no_truncate on public.audit_log;
create trigger audit_log_no_truncate before truncate on public.audit_log
  for each statement execute function mediqom_private.audit_log_append_only();
"""


def forwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(SQL, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
