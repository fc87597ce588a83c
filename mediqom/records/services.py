"""Writes of the records domain. Keyword-only, transactional, audited."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from mediqom.audit.services import AuditContext, audit_record, audit_records
from mediqom.auth.tokens import SupabaseUser
from mediqom.errors import InvalidInput
from mediqom.records.models import (
    DOCUMENT_TYPES,
    SINGLETON_DOCUMENT_TYPES,
    Document,
    Key,
    PrivateKey,
    Profile,
)


def profile_ensure(*, user: SupabaseUser) -> None:
    """Create the profile row of a new auth user (id = auth_id = owner_id = sub)."""
    if Profile.objects.filter(pk=user.id).exists():
        return
    try:
        with transaction.atomic():
            Profile.objects.create(
                id=user.id, auth_id=user.id, owner_id=user.id, email=user.email
            )
    except IntegrityError:
        pass  # created concurrently by another request of the same user


@transaction.atomic
def account_onboard(
    *,
    user: SupabaseUser,
    audit: AuditContext,
    full_name: str,
    public_key: str,
    private_key: str,
    key_hash: str,
    avatar_url: str | None = None,
    language: str | None = None,
    subscription: str | None = None,
    passphrase: str | None = None,
    documents: list[dict[str, Any]] | None = None,
) -> None:
    """First-time set-up: profile fields, encrypted private key and the root documents."""
    from crypto_app.primitives import bcrypt_verify

    if passphrase is not None and not bcrypt_verify(passphrase, key_hash):
        raise InvalidInput("Invalid passphrase", code="invalid_passphrase", legacy_error=True)
    now = timezone.now()
    profile = Profile.objects.for_user(user).select_for_update().get(pk=user.id)
    profile.full_name = full_name
    profile.public_key = public_key
    profile.avatar_url = avatar_url
    if language:
        profile.language = language
    if subscription:
        profile.subscription = subscription
    profile.updated_at = now
    profile.save(
        update_fields=["full_name", "public_key", "avatar_url", "language", "subscription",
                       "updated_at"]
    )
    PrivateKey.objects.update_or_create(
        profile=profile,
        defaults={
            "private_key": private_key,
            "key_hash": key_hash,
            "key_pass": passphrase,
            "updated_at": now,
        },
    )
    audit_record(audit, record_type="private_key", action="update", record_id=profile.pk,
                 profile_id=profile.pk)
    for document in documents or []:
        document_create(
            user=user,
            audit=audit,
            profile=profile,
            doc_type=document["type"],
            metadata=document["metadata"],
            content=document.get("content") or "",
            attachments=[],
            keys=[
                {"user_id": user.id, "owner_id": profile.pk, "key": grant["key"]}
                for grant in document["keys"]
            ],
        )


def document_create(
    *,
    user: SupabaseUser,
    audit: AuditContext,
    profile: Profile,
    doc_type: str,
    metadata: str,
    content: str,
    attachments: list[str],
    keys: list[dict[str, Any]],
) -> Document:
    """Store an encrypted document and its key grants (caller and subject profile only)."""
    if doc_type not in DOCUMENT_TYPES:
        raise InvalidInput("Invalid document type", code="invalid_document_type",
                           fields={"type": ["Invalid document type"]})
    if not keys:
        raise InvalidInput("At least one key is required", code="keys_required",
                           fields={"keys": ["At least one key is required"]})
    allowed_targets = {user.id, profile.pk}
    if any(grant["user_id"] not in allowed_targets for grant in keys):
        raise InvalidInput("Keys may only be granted to the author and the profile",
                           code="invalid_key_target")
    if doc_type in SINGLETON_DOCUMENT_TYPES and (
        Document.objects.filter(profile=profile, type=doc_type).exists()
    ):
        raise InvalidInput("Document already exists", code="document_exists")
    now = timezone.now()
    document = Document.objects.create(
        profile=profile,
        type=doc_type,
        metadata=metadata,
        content=content,
        author_id=user.id,
        attachments=attachments,
        created_at=now,
        updated_at=now,
    )
    created = Key.objects.bulk_create(
        Key(document=document, owner_id=profile.pk, user_id=grant["user_id"], key=grant["key"],
            author_id=user.id)
        for grant in keys
    )
    audit_record(audit, record_type="document", action="create", record_id=document.pk,
                 profile_id=profile.pk)
    audit_records(audit, record_type="key", action="create",
                  rows=[(key.pk, profile.pk) for key in created])
    return document


def document_delete(*, user: SupabaseUser, audit: AuditContext, document: Document) -> None:
    """Delete a document and all its key grants.

    The document row goes first: RLS lets the caller delete it only while it still holds its
    grant. PostgreSQL then cascades to every grant (also those the caller cannot see); SQLite
    has no such cascade, so the remaining grants are removed explicitly (0 rows on PostgreSQL).
    """
    profile_id = document.profile_id
    Document.objects.for_user(user).filter(pk=document.pk).delete()
    Key.objects.filter(document_id=document.pk).delete()
    audit_record(audit, record_type="document", action="delete", record_id=document.pk,
                 profile_id=profile_id)
