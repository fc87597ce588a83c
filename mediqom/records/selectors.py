"""Reads of the records domain, shaped as the client expects (contract §2.5, §11.2)."""

from __future__ import annotations

from typing import Any

from mediqom.audit.services import AuditContext, audit_record
from mediqom.auth.tokens import SupabaseUser
from mediqom.errors import NotFound
from mediqom.records.models import PrivateKey, Profile, ProfileLink, Subscription

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
        Profile.objects.for_user(user)
        .filter(auth_id=user.id)
        .select_related("private_key")
        .first()
    )
    if profile is None:
        raise NotFound()
    key = getattr(profile, "private_key", None) if _has_key(profile) else None
    if key is not None:
        audit_record(audit, record_type="private_key", action="read", record_id=profile.pk,
                     profile_id=profile.pk)
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


def _has_key(profile: Profile) -> bool:
    try:
        profile.private_key  # noqa: B018 - loaded by select_related
    except PrivateKey.DoesNotExist:
        return False
    return True


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
