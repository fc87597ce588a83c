"""Row-level security for the sessions tables (PostgreSQL only): each row is its owner's alone.

Relies on what records 0002 creates (roles, auth.uid()). Foreign keys cascade in the database,
as in Supabase, so deleting a profile or session removes its rows whatever RLS shows.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

TABLES = ("consultation_sessions", "session_transcripts", "session_feedback")

CASCADES = r"""
do $$ declare r record; begin
  for r in
    select c.conname, c.conrelid::regclass as tbl, pg_get_constraintdef(c.oid) as def
    from pg_constraint c
    where c.contype = 'f' and c.confdeltype <> 'c'
      and c.conrelid in ('public.consultation_sessions'::regclass,
                         'public.session_transcripts'::regclass,
                         'public.session_feedback'::regclass)
  loop
    execute format('alter table %s drop constraint %I', r.tbl, r.conname);
    execute format('alter table %s add constraint %I %s', r.tbl, r.conname,
      regexp_replace(r.def, '^(.*?REFERENCES \S+\([^)]*\))(.*)$', '\1 ON DELETE CASCADE\2'));
  end loop;
end $$;
"""


def policies(table: str) -> str:
    return f"""
grant select, insert, update, delete on public.{table} to authenticated;
alter table public.{table} enable row level security;
drop policy if exists {table}_own on public.{table};
create policy {table}_own on public.{table} for all to authenticated
  using (owner_id = (select auth.uid()))
  with check (owner_id = (select auth.uid()));
"""


def forwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(CASCADES, params=None)
    for table in TABLES:
        schema_editor.execute(policies(table), params=None)


class Migration(migrations.Migration):
    dependencies = [("sessions_app", "0001_initial"), ("records", "0002_row_level_security")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
