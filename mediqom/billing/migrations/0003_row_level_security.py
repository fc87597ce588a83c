"""Row-level security for the billing tables (PostgreSQL only; roles/auth.uid() from records 0002).

User-owned: `billing_checkout_sessions` (the user may read and start its own) and
`purchase_history` (the user may read its own; only the server writes it). Server-only:
`billing_stripe_events`, `beta_applications`, `billing_beta_attempts` get RLS without any
policy, so `anon`/`authenticated` see nothing even where Supabase grants them every table
(the reference let any logged-in user read and approve beta applications, contract §10.10).
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

POLICIES = r"""
grant select, insert on public.billing_checkout_sessions to authenticated;
grant select on public.purchase_history to authenticated;

alter table public.billing_checkout_sessions enable row level security;
alter table public.purchase_history enable row level security;
alter table public.billing_stripe_events enable row level security;
alter table public.beta_applications enable row level security;
alter table public.billing_beta_attempts enable row level security;

-- the reference's policies let any signed-in user read and approve applications (§10.10);
-- only the server (and its admin) handles them now
drop policy if exists "Anyone can create beta applications" on public.beta_applications;
drop policy if exists "Authenticated users can view beta applications" on public.beta_applications;
drop policy if exists "Authenticated users can update beta applications" on public.beta_applications;

drop policy if exists billing_checkout_sessions_select on public.billing_checkout_sessions;
create policy billing_checkout_sessions_select on public.billing_checkout_sessions
  for select to authenticated using (user_id = (select auth.uid()));
drop policy if exists billing_checkout_sessions_insert on public.billing_checkout_sessions;
create policy billing_checkout_sessions_insert on public.billing_checkout_sessions
  for insert to authenticated with check (user_id = (select auth.uid()));

drop policy if exists purchase_history_select on public.purchase_history;
create policy purchase_history_select on public.purchase_history
  for select to authenticated using (user_id = (select auth.uid()));
"""


# Foreign keys to profiles in the database only (Django would otherwise query these tables when a
# user deletes a family profile under RLS). A column that already has one (an existing Mediqom
# database: purchase_history → auth.users, beta_applications → profiles) keeps it.
FOREIGN_KEYS = r"""
do $$ declare r record; begin
  for r in select * from (values
      ('billing_checkout_sessions', 'user_id', 'cascade'),
      ('purchase_history', 'user_id', 'cascade'),
      ('beta_applications', 'profile_id', 'set null')) as t(tbl, col, action)
  loop
    if not exists (
      select 1 from pg_constraint c
      join pg_attribute a on a.attrelid = c.conrelid and a.attnum = any(c.conkey)
      where c.contype = 'f' and c.conrelid = format('public.%I', r.tbl)::regclass
        and a.attname = r.col
    ) then
      execute format(
        'alter table public.%I add constraint %I foreign key (%I) references public.profiles(id)'
        ' on delete %s', r.tbl, r.tbl || '_' || r.col || '_fkey', r.col, r.action);
    end if;
  end loop;
end $$;
"""


def forwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FOREIGN_KEYS, params=None)
    schema_editor.execute(POLICIES, params=None)


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_server_tables"), ("records", "0002_row_level_security")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
