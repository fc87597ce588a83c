"""documents_select without a SECURITY DEFINER call per row (bench/README.md, P1 third round).

0002 wrote the policy as `(select mediqom_private.holds_key(id))`: PostgreSQL cannot inline a
SECURITY DEFINER function with its own search_path, so every document row the planner looks
at ran a separate SQL function call (executor start, GUC save and restore). On the document
list that was ~0.6 ms of PostgreSQL CPU per request, more than the rest of the RLS work.

The same rule written inline: a document is visible when the caller holds a key grant for it.
The subquery reads `keys` under keys_select (`user_id = uid or author_id = uid`), which every
row with `user_id = uid` passes, so the answer is exactly holds_key's. No recursion: the keys
policies never read documents (key_insert_allowed is a WITH CHECK helper, SECURITY DEFINER).
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

INLINE = r"""
drop policy if exists documents_select on public.documents;
create policy documents_select on public.documents for select to authenticated
  using (exists (select 1 from public.keys k
                 where k.document_id = documents.id and k.user_id = (select auth.uid())));
"""

HELPER_CALL = r"""
drop policy if exists documents_select on public.documents;
create policy documents_select on public.documents for select to authenticated
  using ((select mediqom_private.holds_key(id)));
"""


def _run(sql: str) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("records", "0007_profiles_email_case_insensitive_index")]
    operations = [migrations.RunPython(_run(INLINE), _run(HELPER_CALL))]
