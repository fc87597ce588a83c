"""audit_log: RLS (users insert and read only their own rows), and a trigger that refuses UPDATE and
DELETE for everyone, the owner included."""

from __future__ import annotations

from typing import Any

from django.db import migrations

SQL = r"""
create schema if not exists mediqom_private;
create or replace function mediqom_private.audit_log_append_only() returns trigger
language plpgsql as $$ begin raise exception 'audit_log is append-only'; end $$;
drop trigger if exists audit_log_append_only on public.audit_log;
create trigger audit_log_append_only before update or delete on public.audit_log
  for each row execute function mediqom_private.audit_log_append_only();
alter table public.audit_log enable row level security;
grant select, insert on public.audit_log to authenticated;
grant usage on sequence public.audit_log_id_seq to authenticated;
drop policy if exists audit_log_insert on public.audit_log;
create policy audit_log_insert on public.audit_log for insert to authenticated
  with check (actor_id = (select auth.uid()));
-- a user may read its own trail (INSERT ... RETURNING needs it too); never others'
drop policy if exists audit_log_select on public.audit_log;
create policy audit_log_select on public.audit_log for select to authenticated
  using (actor_id = (select auth.uid()));
"""


def forwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(SQL, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial"), ("records", "0002_row_level_security")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
