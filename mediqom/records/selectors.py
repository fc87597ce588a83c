"""Reads of the records domain, shaped as the client expects (contract §2.5, §11.2)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from django.db.models import Prefetch, QuerySet

from mediqom.audit.services import AuditContext, audit_entries, audit_record
from mediqom.auth.tokens import SupabaseUser
from mediqom.db.compiled import CompiledIds, CompiledQuery
from mediqom.errors import InvalidInput, NotFound
from mediqom.records.images import sniff_image
from mediqom.records.models import (
    DOCUMENT_TYPES,
    Document,
    Key,
    PrivateKey,
    Profile,
    ProfileLink,
    ScanPack,
    Subscription,
    SubscriptionTier,
)
from mediqom.records.paths import (
    attachment_owner,
    attachment_path_from_ref,
    avatar_object_name,
    valid_attachment_path,
)
from mediqom.records.querysets import DocumentQuerySet
from mediqom.records.storage import (
    BUCKET_ATTACHMENTS,
    BUCKET_AVATARS,
    ObjectNotFound,
    get_storage,
)

DEFAULT_SCANS = 10
DEFAULT_PROFILES = 5

PRIVATE_KEY_FIELDS = (
    ("privateKey", "private_key"),
    ("key_hash", "key_hash"),
    ("key_pass", "key_pass"),
    ("key_derivation_method", "key_derivation_method"),
    ("passkey_credential_id", "passkey_credential_id"),
    ("passkey_prf_salt", "passkey_prf_salt"),
    ("recovery_encrypted_key", "recovery_encrypted_key"),
)


def private_key_payload(key: PrivateKey | None) -> dict[str, Any] | None:
    if key is None:
        return None
    return {name: getattr(key, attr) for name, attr in PRIVATE_KEY_FIELDS}


def user_get(*, user: SupabaseUser, audit: AuditContext) -> dict[str, Any]:
    """GET /v1/med/user: own profile, encrypted private key and legacy subscription stats."""
    profile = (
        Profile.objects.for_user(user).filter(auth_id=user.id).select_related("private_key").first()
    )
    if profile is None:
        raise NotFound()
    key = _private_key_of(profile)
    if key is not None:
        audit_record(
            audit,
            record_type="private_key",
            action="read",
            record_id=profile.pk,
            profile_id=profile.pk,
        )
    subscription = Subscription.objects.for_user(user).first()
    scans = (
        subscription.scans_base + subscription.scans_credits - subscription.scans_used
        if subscription is not None
        else DEFAULT_SCANS
    )
    return {
        "fullName": profile.full_name,
        "subscription": profile.subscription,
        "publicKey": profile.public_key,
        "avatarUrl": profile.avatar_url,
        "auth_id": str(profile.auth_id),
        "id": str(profile.pk),
        "language": profile.language,
        "private_keys": private_key_payload(key),
        "subscriptionStats": {
            "profiles": DEFAULT_PROFILES,
            "scans": scans,
            "default_scans": DEFAULT_SCANS,
            "default_profiles": DEFAULT_PROFILES,
        },
    }


def _private_key_of(profile: Profile) -> PrivateKey | None:
    """The profile's key row, loaded by select_related (None before onboarding)."""
    try:
        return profile.private_key
    except PrivateKey.DoesNotExist:
        return None


def profile_payload(profile: Profile) -> dict[str, Any]:
    return {
        "id": str(profile.pk),
        "auth_id": str(profile.auth_id) if profile.auth_id else None,
        "owner_id": str(profile.owner_id) if profile.owner_id else None,
        "fullName": profile.full_name,
        "language": profile.language,
        "avatarUrl": profile.avatar_url,
        "publicKey": profile.public_key,
    }


def profile_links_list(*, user: SupabaseUser) -> list[dict[str, Any]]:
    """GET /v1/med/profiles: the profiles linked under the caller, with the link status."""
    links = (
        ProfileLink.objects.for_user(user)
        .filter(parent_id=user.id)
        .select_related("profile")
        .order_by("created_at", "id")
    )
    return [{"profiles": profile_payload(link.profile), "status": link.status} for link in links]


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _uuid(value: UUID | None) -> str | None:
    return str(value) if value is not None else None


# ---------------------------------------------------------------- profiles


def profile_row_payload(profile: Profile) -> dict[str, Any]:
    """A whole `profiles` row, as PostgREST returns it after insert/update `.select()`."""
    return {
        "id": str(profile.pk),
        "auth_id": _uuid(profile.auth_id),
        "owner_id": _uuid(profile.owner_id),
        "fullName": profile.full_name,
        "avatarUrl": profile.avatar_url,
        "subscription": profile.subscription,
        "publicKey": profile.public_key,
        "language": profile.language,
        "email": profile.email,
        "updated_at": _iso(profile.updated_at),
    }


def profile_link_get(*, user: SupabaseUser, profile_id: UUID) -> dict[str, Any]:
    """GET /v1/med/profiles/{pid}: the caller's link to that profile (404 when none)."""
    link = (
        ProfileLink.objects.for_user(user)
        .filter(parent_id=user.id, profile_id=profile_id)
        .select_related("profile")
        .order_by("created_at", "id")
        .first()
    )
    if link is None:
        raise NotFound()
    profile = link.profile
    return {
        "profiles": {
            "id": str(profile.pk),
            "fullName": profile.full_name,
            "language": profile.language,
            "avatarUrl": profile.avatar_url,
            "publicKey": profile.public_key,
        },
        "status": link.status,
    }


def profile_visible(*, user: SupabaseUser, profile_id: UUID) -> Profile:
    """A profile the caller may see, or NotFound (identical for missing and foreign ids)."""
    profile = Profile.objects.for_user(user).filter(pk=profile_id).first()
    if profile is None:
        raise NotFound()
    return profile


# ---------------------------------------------------------------- documents


def parse_document_types(raw: str | None) -> list[str]:
    """`?types=a,b` → known document types; empty items are ignored, unknown ones refused."""
    if raw is None:
        return list(DOCUMENT_TYPES)
    types = [item.strip() for item in raw.split(",") if item.strip()]
    unknown = [item for item in types if item not in DOCUMENT_TYPES]
    if unknown:
        raise InvalidInput(
            "Invalid document type",
            code="invalid_document_type",
            fields={"types": [f"Unknown document type: {item[:32]}" for item in unknown[:5]]},
        )
    return types or list(DOCUMENT_TYPES)


def _key_row(key: Key) -> dict[str, Any]:
    return {
        "id": str(key.pk),
        "created_at": _iso(key.created_at),
        "document_id": str(key.document_id),
        "owner_id": str(key.owner_id),
        "user_id": str(key.user_id),
        "key": key.key,
        "author_id": str(key.author_id),
    }


def _caller_keys(user: SupabaseUser) -> Prefetch[Any]:
    return Prefetch(
        "keys",
        queryset=Key.objects.for_user(user).filter(user_id=user.id).order_by("created_at", "id"),
        to_attr="caller_keys",
    )


def documents_listed(
    documents: DocumentQuerySet, ids: CompiledIds, types: tuple[str, ...], full: bool
) -> QuerySet[Document]:
    """`documents` of one visible profile (ids: caller, profile) and of these types, with the
    list's columns, oldest first (also the fast path's, `fast_reads`)."""
    fields = ["id", "metadata", "type", "profile_id", "author_id", "created_at"]
    if full:
        fields += ["content", "attachments"]
    return (
        documents.in_visible_profile(ids, ids.ids[1])
        .filter(type__in=list(types))
        .only(*fields)
        .order_by("created_at", "id")
    )


def _documents_of_profile(
    ids: CompiledIds, types: tuple[str, ...], full: bool
) -> QuerySet[Document]:
    """The documents of one visible profile the caller holds a grant for, oldest first."""
    return documents_listed(Document.objects.for_user(ids), ids, types, full)


def _caller_keys_in_profile(ids: CompiledIds) -> QuerySet[Key]:
    """The caller's own grants on documents of one profile, oldest first."""
    user, profile_id = ids, ids.ids[1]
    return (
        Key.objects.for_user(user)
        .filter(user_id=user.id, document__profile_id=profile_id)
        .order_by("created_at", "id")
    )


# Compiled once per process (ids: caller, profile); see mediqom/db/compiled.py.
DOCUMENTS_OF_PROFILE: CompiledQuery[Document] = CompiledQuery(_documents_of_profile, id_count=2)
CALLER_KEYS_IN_PROFILE: CompiledQuery[Key] = CompiledQuery(_caller_keys_in_profile, id_count=2)


def documents_list(
    *,
    user: SupabaseUser,
    audit: AuditContext,
    profile_id: UUID,
    types: Sequence[str],
    full: bool,
) -> list[dict[str, Any]]:
    """Documents of a visible profile the caller holds a grant for, with its own grants only."""
    # The client decrypts with `keys[0]`: other recipients' grants must never come first.
    # The profile's visibility is a condition of the same query; only an empty answer needs
    # the separate check that tells "no documents" (200 []) from "no such profile" (404).
    documents = list(DOCUMENTS_OF_PROFILE.raw([user.id, profile_id], tuple(types), full))
    if not documents:
        profile_visible(user=user, profile_id=profile_id)
        return []
    grants: dict[UUID, list[Key]] = {document.pk: [] for document in documents}
    for key in CALLER_KEYS_IN_PROFILE.raw([user.id, profile_id]):
        if key.document_id in grants:
            grants[key.document_id].append(key)
    items = []
    entries: list[tuple[str, str, object, UUID | None]] = []
    for document in documents:
        keys = grants[document.pk]
        item: dict[str, Any] = {
            "id": str(document.pk),
            "metadata": document.metadata,
            "type": document.type,
            "user_id": str(document.profile_id),
            "author_id": str(document.author_id),
            "keys": [_key_row(key) for key in keys],
        }
        if full:
            item["content"] = document.content
            item["attachments"] = list(document.attachments or [])
        items.append(item)
        entries.append(("document", "list", document.pk, document.profile_id))
        entries += [("key", "list", key.pk, document.profile_id) for key in keys]
    audit_entries(audit, entries)
    return items


def document_get(
    *, user: SupabaseUser, audit: AuditContext, profile_id: UUID, document_id: UUID
) -> dict[str, Any]:
    """GET …/documents/{did}: one document with the caller's grant(s), or 404."""
    document = (
        Document.objects.for_user(user)
        .in_visible_profile(user, profile_id)
        .filter(pk=document_id)
        .prefetch_related(_caller_keys(user))
        .first()
    )
    if document is None:
        raise NotFound()
    keys: list[Key] = document.caller_keys  # type: ignore[attr-defined]
    audit_entries(
        audit,
        [("document", "read", document.pk, document.profile_id)]
        + [("key", "read", key.pk, document.profile_id) for key in keys],
    )
    return {
        "id": str(document.pk),
        "metadata": document.metadata,
        "content": document.content,
        "type": document.type,
        "attachments": list(document.attachments or []),
        "user_id": str(document.profile_id),
        "author_id": str(document.author_id),
        "keys": [{"key": key.key, "owner_id": str(key.owner_id)} for key in keys],
    }


# ---------------------------------------------------------------- attachments and avatars


def attachment_reachable(*, user: SupabaseUser, path: str) -> bool:
    """The caller uploaded the object, or a document it holds a grant for refers to it."""
    if not valid_attachment_path(path):
        return False
    if attachment_owner(path) == user.id:
        return True
    candidates = Document.objects.for_user(user).mentioning(path).only("attachments")
    return any(
        attachment_path_from_ref(ref) == path
        for document in candidates
        for ref in document.attachments or []
    )


def attachment_read(*, user: SupabaseUser, audit: AuditContext, path: str) -> bytes:
    """GET …/attachments?path=: the stored ciphertext, byte for byte (404 when unreachable)."""
    if not attachment_reachable(user=user, path=path):
        raise NotFound()
    try:
        data = get_storage().get(BUCKET_ATTACHMENTS, path)
    except ObjectNotFound as exc:
        raise NotFound() from exc
    audit_record(audit, record_type="attachment", action="read", record_id=path)
    return data


def avatar_read(
    *, user: SupabaseUser, audit: AuditContext, profile_id: UUID, filename: str
) -> tuple[bytes, str]:
    """GET …/avatar?path=: the image of a profile the caller may see, with its sniffed type."""
    profile = profile_visible(user=user, profile_id=profile_id)
    name = avatar_object_name(profile.pk, filename)
    if name is None:
        raise NotFound()
    try:
        data = get_storage().get(BUCKET_AVATARS, name)
    except ObjectNotFound as exc:
        raise NotFound() from exc
    audit_record(
        audit, record_type="avatar", action="read", record_id=profile.pk, profile_id=profile.pk
    )
    return data, sniff_image(data) or "application/octet-stream"


# ---------------------------------------------------------------- billing catalogue


def tier_payload(tier: SubscriptionTier) -> dict[str, Any]:
    """A whole `subscription_tiers` row, as `select("*")` returns it."""
    return {
        "id": tier.id,
        "name": tier.name,
        "profile_limit": tier.profile_limit,
        "scan_limit": tier.scan_limit,
        "price_monthly_eur": tier.price_monthly_eur,
        "price_yearly_eur": tier.price_yearly_eur,
        "stripe_product_id": tier.stripe_product_id,
        "stripe_price_monthly_eur": tier.stripe_price_monthly_eur,
        "stripe_price_yearly_eur": tier.stripe_price_yearly_eur,
        "apple_product_id_monthly": tier.apple_product_id_monthly,
        "apple_product_id_yearly": tier.apple_product_id_yearly,
        "google_product_id_monthly": tier.google_product_id_monthly,
        "google_product_id_yearly": tier.google_product_id_yearly,
        "is_active": tier.is_active,
        "sort_order": tier.sort_order,
        "created_at": _iso(tier.created_at),
    }


def pack_payload(pack: ScanPack) -> dict[str, Any]:
    """A whole `scan_packs` row, as `select("*")` returns it."""
    return {
        "id": pack.id,
        "name": pack.name,
        "scans": pack.scans,
        "price_eur": pack.price_eur,
        "stripe_price_id": pack.stripe_price_id,
        "apple_product_id": pack.apple_product_id,
        "google_product_id": pack.google_product_id,
        "is_active": pack.is_active,
        "created_at": _iso(pack.created_at),
    }


def tiers_list() -> list[dict[str, Any]]:
    """GET /v1/billing/tiers: active tiers by sort order."""
    tiers = SubscriptionTier.objects.filter(is_active=True).order_by("sort_order", "id")
    return [tier_payload(tier) for tier in tiers]


def packs_list() -> list[dict[str, Any]]:
    """GET /v1/billing/packs: active scan packs."""
    packs = ScanPack.objects.filter(is_active=True).order_by("scans", "id")
    return [pack_payload(pack) for pack in packs]


def subscription_payload(subscription: Subscription) -> dict[str, Any]:
    """Every `subscriptions` column, as `select("*")` returns it."""
    return {
        "id": str(subscription.pk),
        "profiles": subscription.profiles,
        "scans": subscription.scans,
        "updated_at": _iso(subscription.updated_at),
        "tier_id": subscription.tier_id,
        "status": subscription.status,
        "source": subscription.source,
        "stripe_customer_id": subscription.stripe_customer_id,
        "stripe_subscription_id": subscription.stripe_subscription_id,
        "apple_original_transaction_id": subscription.apple_original_transaction_id,
        "google_purchase_token": subscription.google_purchase_token,
        "current_period_start": _iso(subscription.current_period_start),
        "current_period_end": _iso(subscription.current_period_end),
        "cancel_at_period_end": subscription.cancel_at_period_end,
        "scans_base": subscription.scans_base,
        "scans_used": subscription.scans_used,
        "scans_credits": subscription.scans_credits,
        "scans_reset_at": _iso(subscription.scans_reset_at),
    }
