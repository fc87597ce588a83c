"""Row-level security for import jobs (contract 11.1): a job is its user's alone."""

from __future__ import annotations

from typing import Any

from django.db import migrations

SQL = r"""
grant select, insert, update, delete on public.import_jobs to authenticated;
alter table public.import_jobs enable row level security;
drop policy if exists import_jobs_own on public.import_jobs;
create policy import_jobs_own on public.import_jobs for all to authenticated
  using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));
"""


def forwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(SQL, params=None)


class Migration(migrations.Migration):
    dependencies = [("imports_app", "0001_initial"), ("records", "0002_row_level_security")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
