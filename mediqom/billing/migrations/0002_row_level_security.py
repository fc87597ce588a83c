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


def forwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(POLICIES, params=None)


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial"), ("records", "0002_row_level_security")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
