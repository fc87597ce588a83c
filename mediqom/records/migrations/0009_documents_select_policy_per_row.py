"""documents_select checked per document row, never by hashing all of the caller's grants.

0008's inline `EXISTS` may be turned by PostgreSQL into a hashed subplan: before the first
document row is checked, every grant addressed to the caller is read into a hash table. For a
patient that is ~20 rows; for a clinician holding thousands of grants on other profiles' documents
it is all of them on every query that reads `documents` (with 5,000: ~1.7 ms of the 4 ms a
document list took; bench/README.md, P1 fourth round). `offset 0` keeps the subquery a per-row
probe of `keys (user_id, document_id)`; the rule is unchanged.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

PER_ROW = r"""
drop policy if exists documents_select on public.documents;
create policy documents_select on public.documents for select to authenticated
  using (exists (select 1 from public.keys k
                 where k.document_id = documents.id and k.user_id = (select auth.uid())
                 offset 0));
"""

INLINE = r"""
drop policy if exists documents_select on public.documents;
create policy documents_select on public.documents for select to authenticated
  using (exists (select 1 from public.keys k
                 where k.document_id = documents.id and k.user_id = (select auth.uid())));
"""


def _run(sql: str) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("records", "0008_documents_select_policy_inline")]
    operations = [migrations.RunPython(_run(PER_ROW), _run(INLINE))]
