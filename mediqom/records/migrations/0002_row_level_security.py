"""Row-level security for the records tables (contract §11.1), on PostgreSQL only.

On plain PostgreSQL this also creates what Supabase provides (roles anon/authenticated/
service_role, schema auth and a NULL-safe auth.uid()); on Supabase those exist and are left
alone. Cross-table checks go through SECURITY DEFINER helpers in schema mediqom_private (not
exposed by PostgREST, empty search_path) so policies never recurse into each other.
Foreign keys get ON DELETE CASCADE as in Supabase, so deleting a document or profile also
removes rows the deleting user cannot see (RI actions bypass RLS).
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

SUPABASE_COMPAT = r"""
do $$ begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit; end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit; end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls; end if;
  if not pg_has_role(current_user, 'authenticated', 'member') then
    execute format('grant authenticated to %I', current_user); end if;
end $$;
create schema if not exists auth;
do $$ begin
  if not exists (select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                 where n.nspname = 'auth' and p.proname = 'uid') then
    -- nullif inside coalesce: a reused connection keeps the GUC defined as '' after a
    -- transaction that set it locally; '' must read as "no user", not fail as bad JSON.
    create function auth.uid() returns uuid language sql stable as $f$
      select coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
      )::uuid
    $f$;
    grant usage on schema auth to anon, authenticated, service_role;
    grant execute on function auth.uid() to anon, authenticated, service_role;
  end if;
end $$;
"""

HELPERS = r"""
create schema if not exists mediqom_private;
revoke all on schema mediqom_private from public;
grant usage on schema mediqom_private to authenticated;

create or replace function mediqom_private.owns_profile(pid uuid) returns boolean
language sql stable security definer set search_path = '' as $$
  select exists (select 1 from public.profiles p
                 where p.id = pid and (p.owner_id = (select auth.uid()) or p.id = (select auth.uid())))
$$;

create or replace function mediqom_private.can_write_profile(pid uuid) returns boolean
language sql stable security definer set search_path = '' as $$
  select pid = (select auth.uid())
      or exists (select 1 from public.profiles p where p.id = pid and p.owner_id = (select auth.uid()))
      or exists (select 1 from public.profiles_links l
                 where l.profile_id = pid and l.parent_id = (select auth.uid())
                   and l.status = 'approved')
$$;

create or replace function mediqom_private.holds_key(did uuid) returns boolean
language sql stable security definer set search_path = '' as $$
  select exists (select 1 from public.keys k
                 where k.document_id = did and k.user_id = (select auth.uid()))
$$;

create or replace function mediqom_private.holds_owner_key(did uuid, pid uuid) returns boolean
language sql stable security definer set search_path = '' as $$
  select exists (select 1 from public.keys k
                 where k.document_id = did and k.owner_id = pid and k.user_id = (select auth.uid()))
$$;

create or replace function mediqom_private.key_insert_allowed(did uuid, oid uuid, uid uuid)
returns boolean language sql stable security definer set search_path = '' as $$
  select exists (select 1 from public.documents d
                 where d.id = did and d.user_id = oid
                   and (d.author_id = (select auth.uid())
                        or exists (select 1 from public.keys k
                                   where k.document_id = did and k.owner_id = oid
                                     and k.user_id = (select auth.uid())))
                   and uid in ((select auth.uid()), d.user_id))
$$;

grant execute on all functions in schema mediqom_private to authenticated;
"""

CASCADES = r"""
do $$ declare r record; begin
  for r in
    select c.conname, c.conrelid::regclass as tbl, pg_get_constraintdef(c.oid) as def
    from pg_constraint c
    where c.contype = 'f' and c.confdeltype <> 'c'
      and c.conrelid in ('public.documents'::regclass, 'public.keys'::regclass,
                         'public.private_keys'::regclass, 'public.profiles_links'::regclass)
  loop
    execute format('alter table %s drop constraint %I', r.tbl, r.conname);
    execute format('alter table %s add constraint %I %s', r.tbl, r.conname,
      regexp_replace(r.def, '^(.*?REFERENCES \S+\([^)]*\))(.*)$', '\1 ON DELETE CASCADE\2'));
  end loop;
end $$;
"""

POLICIES = r"""
grant usage on schema public to anon, authenticated;
grant select, insert, update, delete on
  public.profiles, public.private_keys, public.profiles_links, public.documents, public.keys,
  public.subscriptions to authenticated;
grant select, insert on public.recovery_attempts to authenticated;
grant select on public.subscription_tiers, public.scan_packs to anon, authenticated;
grant usage on sequence public.profiles_links_id_seq to authenticated;

alter table public.profiles enable row level security;
alter table public.private_keys enable row level security;
alter table public.profiles_links enable row level security;
alter table public.documents enable row level security;
alter table public.keys enable row level security;
alter table public.subscriptions enable row level security;
alter table public.subscription_tiers enable row level security;
alter table public.scan_packs enable row level security;
alter table public.recovery_attempts enable row level security;

-- profiles: own, owned (virtual) and linked-under-me profiles are visible
drop policy if exists profiles_select on public.profiles;
create policy profiles_select on public.profiles for select to authenticated using (
  id = (select auth.uid()) or owner_id = (select auth.uid())
  or id in (select l.profile_id from public.profiles_links l where l.parent_id = (select auth.uid())));
drop policy if exists profiles_insert on public.profiles;
create policy profiles_insert on public.profiles for insert to authenticated with check (
  owner_id = (select auth.uid())
  and (auth_id is null or (auth_id = (select auth.uid()) and id = (select auth.uid()))));
drop policy if exists profiles_update on public.profiles;
create policy profiles_update on public.profiles for update to authenticated
  using (id = (select auth.uid()) or owner_id = (select auth.uid()))
  with check (id = (select auth.uid()) or owner_id = (select auth.uid()));
drop policy if exists profiles_delete on public.profiles;
create policy profiles_delete on public.profiles for delete to authenticated
  using (owner_id = (select auth.uid()) and auth_id is null);

-- private_keys: the user's own and those of profiles it owns
drop policy if exists private_keys_all on public.private_keys;
create policy private_keys_all on public.private_keys for all to authenticated
  using (id = (select auth.uid()) or (select mediqom_private.owns_profile(id)))
  with check (id = (select auth.uid()) or (select mediqom_private.owns_profile(id)));

-- profiles_links: parent or child may see and remove; only parents of owned profiles add
drop policy if exists profiles_links_select on public.profiles_links;
create policy profiles_links_select on public.profiles_links for select to authenticated
  using (parent_id = (select auth.uid()) or profile_id = (select auth.uid()));
drop policy if exists profiles_links_insert on public.profiles_links;
create policy profiles_links_insert on public.profiles_links for insert to authenticated
  with check (parent_id = (select auth.uid()) and (select mediqom_private.owns_profile(profile_id)));
drop policy if exists profiles_links_delete on public.profiles_links;
create policy profiles_links_delete on public.profiles_links for delete to authenticated
  using (parent_id = (select auth.uid()) or profile_id = (select auth.uid()));

-- documents: read with a key grant; write into profiles the caller may act on
drop policy if exists documents_select on public.documents;
create policy documents_select on public.documents for select to authenticated
  using ((select mediqom_private.holds_key(id)));
drop policy if exists documents_insert on public.documents;
create policy documents_insert on public.documents for insert to authenticated
  with check (author_id = (select auth.uid()) and (select mediqom_private.can_write_profile(user_id)));
drop policy if exists documents_update on public.documents;
create policy documents_update on public.documents for update to authenticated
  using ((select mediqom_private.holds_owner_key(id, user_id)))
  with check ((select mediqom_private.holds_owner_key(id, user_id)));
drop policy if exists documents_delete on public.documents;
create policy documents_delete on public.documents for delete to authenticated
  using ((select mediqom_private.holds_owner_key(id, user_id)));

-- keys: grants to me or written by me; new grants only to me or the document's profile
drop policy if exists keys_select on public.keys;
create policy keys_select on public.keys for select to authenticated
  using (user_id = (select auth.uid()) or author_id = (select auth.uid()));
drop policy if exists keys_insert on public.keys;
create policy keys_insert on public.keys for insert to authenticated
  with check (author_id = (select auth.uid())
              and (select mediqom_private.key_insert_allowed(document_id, owner_id, user_id)));
drop policy if exists keys_delete on public.keys;
create policy keys_delete on public.keys for delete to authenticated
  using (user_id = (select auth.uid()) or author_id = (select auth.uid()));

-- subscriptions: one row per auth user, the user's own
drop policy if exists subscriptions_own on public.subscriptions;
create policy subscriptions_own on public.subscriptions for all to authenticated
  using (id = (select auth.uid())) with check (id = (select auth.uid()));

-- catalogue tables: active rows for everyone
drop policy if exists subscription_tiers_read on public.subscription_tiers;
create policy subscription_tiers_read on public.subscription_tiers for select
  to anon, authenticated using (is_active);
drop policy if exists scan_packs_read on public.scan_packs;
create policy scan_packs_read on public.scan_packs for select to anon, authenticated
  using (is_active);

-- recovery_attempts: the user's own
drop policy if exists recovery_attempts_select on public.recovery_attempts;
create policy recovery_attempts_select on public.recovery_attempts for select to authenticated
  using (user_id = (select auth.uid()));
drop policy if exists recovery_attempts_insert on public.recovery_attempts;
create policy recovery_attempts_insert on public.recovery_attempts for insert to authenticated
  with check (user_id = (select auth.uid()));
"""


def forwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for block in (SUPABASE_COMPAT, HELPERS, CASCADES, POLICIES):
        schema_editor.execute(block, params=None)


class Migration(migrations.Migration):
    dependencies = [("records", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
