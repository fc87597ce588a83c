"""Row-level security for the stream tables: a stream and its events are visible to the owning
profile's account and to the account owning that profile (`mediqom_private.owns_profile`).
Users may append (insert events, bump their stream's counter) and end their own streams; only
the server purges."""

from __future__ import annotations

from typing import Any

from django.db import migrations

SQL = r"""
grant select, insert, update on public.streams to authenticated;
grant select, insert on public.stream_events to authenticated;
grant usage on sequence public.stream_events_id_seq to authenticated;

alter table public.streams enable row level security;
alter table public.stream_events enable row level security;

drop policy if exists streams_select on public.streams;
create policy streams_select on public.streams for select to authenticated
  using (owner_id = (select auth.uid()) or mediqom_private.owns_profile(owner_id));
drop policy if exists streams_insert on public.streams;
create policy streams_insert on public.streams for insert to authenticated
  with check (owner_id = (select auth.uid()) or mediqom_private.owns_profile(owner_id));
drop policy if exists streams_update on public.streams;
create policy streams_update on public.streams for update to authenticated
  using (owner_id = (select auth.uid()) or mediqom_private.owns_profile(owner_id))
  with check (owner_id = (select auth.uid()) or mediqom_private.owns_profile(owner_id));

drop policy if exists stream_events_select on public.stream_events;
create policy stream_events_select on public.stream_events for select to authenticated
  using (owner_id = (select auth.uid()) or mediqom_private.owns_profile(owner_id));
drop policy if exists stream_events_insert on public.stream_events;
create policy stream_events_insert on public.stream_events for insert to authenticated
  with check ((owner_id = (select auth.uid()) or mediqom_private.owns_profile(owner_id))
    and exists (select 1 from public.streams s
                where s.key = stream_events.stream_key and s.owner_id = stream_events.owner_id));
"""


def forwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(SQL, params=None)


class Migration(migrations.Migration):
    dependencies = [("streams", "0001_initial"), ("records", "0002_row_level_security")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
