"""Writes of the records domain. Keyword-only, transactional, audited."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from mediqom.audit.services import AuditContext, audit_record, audit_records
from mediqom.auth.tokens import SupabaseUser
from mediqom.db.rls import RLS_ROLE, apply_rls, clear_rls, rls_enabled
from mediqom.errors import ApiError, Forbidden, InvalidInput, NotFound, PayloadTooLarge
from mediqom.logging import get_logger
from mediqom.records.images import (
    IMAGE_TYPES,
    decode_base64,
    decoded_size,
    sniff_image,
    split_data_url,
)
from mediqom.records.models import (
    DOCUMENT_TYPES,
    LANGUAGES,
    SINGLETON_DOCUMENT_TYPES,
    Document,
    Key,
    PrivateKey,
    Profile,
    ProfileLink,
    Subscription,
)
from mediqom.records.paths import (
    attachment_owner,
    attachment_path_from_ref,
    avatar_object_name,
    new_attachment_path,
    stored_ref,
    valid_attachment_path,
)
from mediqom.records.storage import (
    BUCKET_ATTACHMENTS,
    BUCKET_AVATARS,
    ObjectExists,
    StorageUnavailable,
    get_storage,
    supabase_admin_client,
    supabase_configured,
)

log = get_logger("api")


def profile_ensure(*, user: SupabaseUser) -> None:
    """Create the profile row of a new auth user (id = auth_id = owner_id = sub)."""
    # unscoped: the first-login profile, checked with the server's rights before any RLS context
    if Profile.objects.filter(pk=user.id).exists():
        return
    # INSERT ... ON CONFLICT DO NOTHING: a concurrent first request of the same user (a burst of
    # stream connections) is no error, and leaves no ERROR line in the database's log
    Profile.objects.bulk_create(
        [Profile(id=user.id, auth_id=user.id, owner_id=user.id, email=user.email)],
        ignore_conflicts=True,
    )


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
        update_fields=[
            "full_name",
            "public_key",
            "avatar_url",
            "language",
            "subscription",
            "updated_at",
        ]
    )
    PrivateKey.objects.for_user(user).update_or_create(
        profile=profile,
        defaults={
            "private_key": private_key,
            "key_hash": key_hash,
            "key_pass": passphrase,
            "updated_at": now,
        },
    )
    # The client lists the account's own profile through GET /v1/med/profiles (a self link,
    # which the reference database created outside its repository).
    if (
        not ProfileLink.objects.for_user(user)
        .filter(parent_id=user.id, profile_id=user.id)
        .exists()
    ):
        ProfileLink.objects.create(parent_id=user.id, profile=profile, status="approved")
    audit_record(
        audit,
        record_type="private_key",
        action="update",
        record_id=profile.pk,
        profile_id=profile.pk,
    )
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
    attachments: Sequence[str | dict[str, Any]],
    keys: list[dict[str, Any]],
) -> Document:
    """Store an encrypted document and its key grants (caller and subject profile only)."""
    if doc_type not in DOCUMENT_TYPES:
        raise InvalidInput(
            "Invalid document type",
            code="invalid_document_type",
            fields={"type": ["Invalid document type"]},
        )
    if not keys:
        raise InvalidInput(
            "At least one key is required",
            code="keys_required",
            fields={"keys": ["At least one key is required"]},
        )
    allowed_targets = {user.id, profile.pk}
    if any(grant["user_id"] not in allowed_targets for grant in keys):
        raise InvalidInput(
            "Keys may only be granted to the author and the profile",
            code="invalid_key_target",
            fields={"keys": ["Keys may only be granted to the author and the profile"]},
        )
    if any(grant.get("owner_id") not in (None, profile.pk) for grant in keys):
        raise InvalidInput(
            "A key's owner must be the document's profile",
            code="invalid_key_owner",
            fields={"keys": ["A key's owner must be the document's profile"]},
        )
    stored = attachment_refs_checked(user=user, refs=attachments)
    now = timezone.now()
    try:
        # The partial unique index documents_one_root_per_profile decides, also for root
        # documents the caller cannot see and for concurrent creates.
        with transaction.atomic():
            document = Document.objects.create(
                profile=profile,
                type=doc_type,
                metadata=metadata,
                content=content,
                author_id=user.id,
                attachments=stored,
                created_at=now,
                updated_at=now,
            )
    except IntegrityError as exc:
        if doc_type in SINGLETON_DOCUMENT_TYPES:
            raise InvalidInput(
                "Document already exists",
                code="document_exists",
                fields={"type": ["Document already exists"]},
            ) from exc
        raise
    created = Key.objects.bulk_create(
        Key(
            document=document,
            owner_id=profile.pk,
            user_id=grant["user_id"],
            key=grant["key"],
            author_id=user.id,
        )
        for grant in keys
    )
    audit_record(
        audit, record_type="document", action="create", record_id=document.pk, profile_id=profile.pk
    )
    audit_records(
        audit, record_type="key", action="create", rows=[(key.pk, profile.pk) for key in created]
    )
    return document


def document_delete(*, user: SupabaseUser, audit: AuditContext, document: Document) -> None:
    """Delete a document and all its key grants.

    The document row goes first: RLS lets the caller delete it only while it still holds its
    grant. PostgreSQL then cascades to every grant (also those the caller cannot see); SQLite
    has no such cascade, so the remaining grants are removed explicitly (0 rows on PostgreSQL).
    """
    profile_id = document.profile_id
    Document.objects.for_user(user).filter(pk=document.pk).delete()
    # unscoped: every grant of the deleted document, also those the caller cannot see
    Key.objects.filter(document_id=document.pk).delete()
    audit_record(
        audit, record_type="document", action="delete", record_id=document.pk, profile_id=profile_id
    )


# ---------------------------------------------------------------- attachment references

MAX_ATTACHMENT_REFS = 200


def attachment_refs_checked(
    *,
    user: SupabaseUser,
    refs: Sequence[str | dict[str, Any]],
    existing: Sequence[str] = (),
) -> list[str]:
    """The `attachments` items as stored; each must be the caller's upload, already on the
    document, or referenced by a document the caller holds a grant for."""
    # Without this check a grant on a new document would open a stranger's attachment:
    # GET …/attachments authorises by document references.
    from mediqom.records.selectors import attachment_reachable

    if len(refs) > MAX_ATTACHMENT_REFS:
        raise InvalidInput(
            "Too many attachments",
            code="invalid_attachments",
            fields={"attachments": [f"At most {MAX_ATTACHMENT_REFS} items"]},
        )
    already = {attachment_path_from_ref(ref) for ref in existing} - {None}
    stored = []
    for ref in refs:
        path = attachment_path_from_ref(ref)
        if path is None or not (
            path in already
            or attachment_owner(path) == user.id
            or attachment_reachable(user=user, path=path)
        ):
            raise InvalidInput(
                "Invalid attachment reference",
                code="invalid_attachment",
                fields={"attachments": ["Invalid attachment reference"]},
            )
        stored.append(stored_ref(ref))
    return stored


# ---------------------------------------------------------------- profiles


@transaction.atomic
def profile_create(
    *,
    user: SupabaseUser,
    audit: AuditContext,
    full_name: str,
    public_key: str,
    private_key: str,
    key_hash: str,
    key_pass: str | None = None,
    language: str | None = None,
) -> Profile:
    """Create a family profile, its private key and an approved link, within the tier limit."""
    # The limit counts owned virtual profiles (the reference counted the wrong thing, §5.5) and
    # holds the subscription row lock until commit, so parallel creations cannot both pass.
    from mediqom.records.quotas import check_profile_limit

    limit = check_profile_limit(user=user)
    if not limit["can_create"]:
        raise Forbidden(
            f"Profile limit reached ({limit['current_count']}/{limit['limit']})",
            code="profile_limit_reached",
        )
    now = timezone.now()
    profile = Profile(full_name=full_name, public_key=public_key, owner_id=user.id, updated_at=now)
    if language:
        profile.language = language
    profile.save(force_insert=True)
    PrivateKey.objects.create(
        profile=profile,
        private_key=private_key,
        key_hash=key_hash,
        key_pass=key_pass,
        created_at=now,
        updated_at=now,
    )
    ProfileLink.objects.create(parent_id=user.id, profile=profile, status="approved")
    audit_record(
        audit, record_type="profile", action="create", record_id=profile.pk, profile_id=profile.pk
    )
    audit_record(
        audit,
        record_type="private_key",
        action="create",
        record_id=profile.pk,
        profile_id=profile.pk,
    )
    return profile


def _changeable_profile(user: SupabaseUser, profile_id: UUID) -> Profile:
    """The caller's own or owned profile: 404 when invisible, 403 when only linked."""
    profile = Profile.objects.for_user(user).filter(pk=profile_id).first()
    if profile is None:
        raise NotFound()
    if profile.owner_id != user.id and profile.pk != user.id:
        raise Forbidden()
    return profile


@transaction.atomic
def profile_rename(
    *, user: SupabaseUser, audit: AuditContext, profile_id: UUID, full_name: str
) -> Profile:
    """Rename the caller's own or owned profile (403 if only linked, 404 if not visible)."""
    profile = _changeable_profile(user, profile_id)
    profile.full_name = full_name
    profile.updated_at = timezone.now()
    profile.save(update_fields=["full_name", "updated_at"])
    audit_record(
        audit, record_type="profile", action="update", record_id=profile.pk, profile_id=profile.pk
    )
    return profile


@transaction.atomic
def profile_remove(
    *, user: SupabaseUser, audit: AuditContext, profile_id: UUID, parent_link: bool = False
) -> str:
    """Delete an owned family profile, else unlink it (or, `parent_link`, unlink a parent)."""
    # Nothing to remove is a 404, identical for foreign and missing ids.
    if parent_link:
        removed = _links_delete(
            ProfileLink.objects.for_user(user).filter(profile_id=user.id, parent_id=profile_id)
        )
        if not removed:
            raise NotFound()
        audit_record(audit, record_type="profile_link", action="delete", profile_id=user.id)
        return "Profile link removed"
    if profile_id != user.id:
        profile = Profile.objects.for_user(user).owned_virtual(user).filter(pk=profile_id).first()
        if profile is not None:
            objects = _stored_objects_of([profile], user=user)
            profile.delete()
            audit_record(
                audit,
                record_type="profile",
                action="delete",
                record_id=profile_id,
                profile_id=profile_id,
            )
            transaction.on_commit(lambda: _delete_objects_quietly(objects))
            return "Profile links and profile removed"
    removed = _links_delete(
        ProfileLink.objects.for_user(user).filter(profile_id=profile_id, parent_id=user.id)
    )
    if not removed:
        raise NotFound()
    audit_record(audit, record_type="profile_link", action="delete", profile_id=profile_id)
    return "Profile link removed"


def _links_delete(links: Any) -> int:
    deleted, _ = links.delete()
    return int(deleted)


# ---------------------------------------------------------------- documents


def document_add(
    *,
    user: SupabaseUser,
    audit: AuditContext,
    profile_id: UUID,
    doc_type: str,
    metadata: str,
    content: str,
    attachments: Sequence[str | dict[str, Any]],
    keys: list[dict[str, Any]],
) -> Document:
    """Create a document in a profile the caller may write (RLS `can_write_profile`)."""
    # Invisible profile → 404; visible but not writable (e.g. a requested link) → 403.
    with transaction.atomic():
        profile = (
            Profile.objects.for_user(user).with_write_access(user).filter(pk=profile_id).first()
        )
        if profile is None:
            raise NotFound()
        if not profile.can_write:  # type: ignore[attr-defined]
            raise Forbidden()
        return document_create(
            user=user,
            audit=audit,
            profile=profile,
            doc_type=doc_type,
            metadata=metadata,
            content=content,
            attachments=attachments,
            keys=keys,
        )


def _document_for_change(user: SupabaseUser, profile_id: UUID, document_id: UUID) -> Document:
    document = (
        Document.objects.for_user(user)
        .in_visible_profile(user, profile_id)
        .owner_granted_to(user)
        .filter(pk=document_id)
        .first()
    )
    if document is None:
        raise NotFound()
    return document


@transaction.atomic
def document_update(
    *,
    user: SupabaseUser,
    audit: AuditContext,
    profile_id: UUID,
    document_id: UUID,
    metadata: str,
    content: str,
    attachments: Sequence[str | dict[str, Any]] | None = None,
) -> None:
    """Replace a document's ciphertexts; needs the grant (owner_id = pid, user_id = caller)."""
    document = _document_for_change(user, profile_id, document_id)
    document.metadata = metadata
    document.content = content
    if attachments is not None:
        document.attachments = attachment_refs_checked(
            user=user, refs=attachments, existing=document.attachments or []
        )
    document.updated_at = timezone.now()
    document.save(update_fields=["metadata", "content", "attachments", "updated_at"])
    audit_record(
        audit,
        record_type="document",
        action="update",
        record_id=document.pk,
        profile_id=document.profile_id,
    )


@transaction.atomic
def document_remove(
    *, user: SupabaseUser, audit: AuditContext, profile_id: UUID, document_id: UUID
) -> None:
    """Delete a document; needs the same grant as an update (the reference relied on RLS)."""
    document_delete(
        user=user, audit=audit, document=_document_for_change(user, profile_id, document_id)
    )


# ---------------------------------------------------------------- attachments and avatars


def _max_upload() -> int:
    return int(settings.MEDIQOM_MAX_UPLOAD_BYTES)


@transaction.atomic
def attachment_upload(
    *, user: SupabaseUser, audit: AuditContext, profile_id: UUID, file: str
) -> dict[str, str]:
    """POST …/attachments: store the client's ciphertext text under the caller's prefix."""
    profile = Profile.objects.for_user(user).with_write_access(user).filter(pk=profile_id).first()
    if profile is None:
        raise NotFound()
    if not profile.can_write:  # type: ignore[attr-defined]
        raise Forbidden()
    data = file.encode("utf-8")
    if len(data) > _max_upload():
        raise PayloadTooLarge("The file is too large")
    storage = get_storage()
    for _attempt in range(3):
        path = new_attachment_path(user.id)
        try:
            storage.put(BUCKET_ATTACHMENTS, path, data, content_type="text/plain;charset=UTF-8")
            break
        except ObjectExists:
            continue
    else:
        raise StorageUnavailable()
    try:
        audit_record(
            audit, record_type="attachment", action="create", record_id=path, profile_id=profile.pk
        )
    except Exception:
        storage.delete(BUCKET_ATTACHMENTS, [path])
        raise
    url = storage.public_url(BUCKET_ATTACHMENTS, path) or (
        f"/v1/med/profiles/{profile.pk}/attachments?path={path}"
    )
    return {"url": url, "path": path}


@transaction.atomic
def attachment_delete(*, user: SupabaseUser, audit: AuditContext, path: str) -> None:
    """DELETE …/attachments?path=: only the caller's own uploads; anything else is a 404."""
    if not valid_attachment_path(path) or attachment_owner(path) != user.id:
        raise NotFound()
    if not get_storage().delete(BUCKET_ATTACHMENTS, [path]):
        raise NotFound()
    audit_record(audit, record_type="attachment", action="delete", record_id=path)


@transaction.atomic
def avatar_upload(
    *, user: SupabaseUser, audit: AuditContext, profile_id: UUID, file: str, filename: str
) -> str:
    """Store a real PNG/JPEG/GIF/WebP avatar (sniffed by content) and set `avatarUrl`."""
    profile = _changeable_profile(user, profile_id)
    name = avatar_object_name(profile.pk, filename)
    if name is None:
        raise InvalidInput(
            "Invalid filename", code="invalid_filename", fields={"filename": ["Invalid filename"]}
        )
    payload = split_data_url(file)
    if decoded_size(payload) > _max_upload() + 3:
        raise PayloadTooLarge("The image is too large")
    data = decode_base64(payload)
    if data is not None and len(data) > _max_upload():
        raise PayloadTooLarge("The image is too large")
    mime = sniff_image(data) if data else None
    if data is None or mime not in IMAGE_TYPES:
        raise InvalidInput(
            "The avatar must be a PNG, JPEG, GIF or WebP image",
            code="invalid_image",
            fields={"file": ["The avatar must be a PNG, JPEG, GIF or WebP image"]},
        )
    storage = get_storage()
    storage.put(BUCKET_AVATARS, name, data, content_type=str(mime), upsert=True)
    previous = profile.avatar_url
    try:
        profile.avatar_url = filename
        profile.updated_at = timezone.now()
        profile.save(update_fields=["avatar_url", "updated_at"])
        audit_record(
            audit,
            record_type="avatar",
            action="update",
            record_id=profile.pk,
            profile_id=profile.pk,
        )
    except Exception:
        storage.delete(BUCKET_AVATARS, [name])  # as the reference: roll the upload back
        raise
    old = avatar_object_name(profile.pk, previous) if previous and previous != filename else None
    if old is not None:
        transaction.on_commit(lambda: _delete_objects_quietly([(BUCKET_AVATARS, old)]))
    return filename


# ---------------------------------------------------------------- account


@transaction.atomic
def user_language_set(*, user: SupabaseUser, language: str) -> None:
    """POST /v1/user/language: the caller's own profile language (en, cs or de)."""
    if language not in LANGUAGES:
        raise InvalidInput("Invalid language", code="invalid_language", legacy_error=True)
    Profile.objects.for_user(user).filter(pk=user.id).update(
        language=language, updated_at=timezone.now()
    )


def _stored_objects_of(profiles: Sequence[Profile], *, user: SupabaseUser) -> list[tuple[str, str]]:
    """(bucket, name) of the profiles' avatars and of the attachments their documents use."""
    objects: list[tuple[str, str]] = []
    for profile in profiles:
        name = avatar_object_name(profile.pk, profile.avatar_url) if profile.avatar_url else None
        if name is not None:
            objects.append((BUCKET_AVATARS, name))
    documents = Document.objects.for_user(user).filter(profile__in=list(profiles))
    for refs in documents.values_list("attachments", flat=True):
        for ref in refs or []:
            path = attachment_path_from_ref(ref)
            if path is not None:
                objects.append((BUCKET_ATTACHMENTS, path))
    return objects


def _delete_objects(objects: Sequence[tuple[str, str]]) -> None:
    storage = get_storage()
    for bucket in (BUCKET_ATTACHMENTS, BUCKET_AVATARS):
        names = sorted({name for b, name in objects if b == bucket})
        for start in range(0, len(names), 100):
            storage.delete(bucket, names[start : start + 100])


def _delete_objects_quietly(objects: Sequence[tuple[str, str]]) -> None:
    """After commit: a storage failure leaves orphans (logged by type only), never an error."""
    try:
        _delete_objects(objects)
    except ApiError:
        log.warning("orphaned %d stored objects after a delete", len(objects))


@contextmanager
def _server_rights(user: SupabaseUser) -> Iterator[None]:
    """Leave the caller's RLS identity inside this transaction, then take it back."""
    # RLS lets no user delete its own account row; the reference used the service role.
    switched = False
    if rls_enabled() and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("select current_setting('role', true)")
            row = cursor.fetchone()
        switched = bool(row and row[0] == RLS_ROLE)
    if switched:
        clear_rls()
    try:
        yield
    finally:
        if switched:
            apply_rls(user)


@transaction.atomic
def account_delete(*, user: SupabaseUser, audit: AuditContext) -> None:
    """Delete the account: stored objects, then the user's data, then the Supabase auth user."""
    # Data = own profile, owned family profiles and everything under them, the subscription.
    # Documents the user wrote in other people's profiles (and their files) stay theirs.
    own_or_virtual = Q(pk=user.id) | Q(owner_id=user.id, auth_id__isnull=True)
    profiles = list(Profile.objects.for_user(user).filter(own_or_virtual).order_by("id"))
    objects = _stored_objects_of(profiles, user=user)
    storage = get_storage()
    objects += [
        (BUCKET_ATTACHMENTS, name) for name in storage.list(BUCKET_ATTACHMENTS, f"{user.id}/")
    ]
    for profile in profiles:
        objects += [
            (BUCKET_AVATARS, name) for name in storage.list(BUCKET_AVATARS, f"{profile.pk}_")
        ]
    # Documents the user wrote into other people's profiles stay, and so do their files.
    surviving = Document.objects.for_user(user).exclude(profile__in=profiles)
    kept = {
        attachment_path_from_ref(ref)
        for refs in surviving.values_list("attachments", flat=True)
        for ref in refs or []
    }
    _delete_objects([(bucket, name) for bucket, name in objects if name not in kept])
    audit_record(
        audit, record_type="account", action="delete", record_id=user.id, profile_id=user.id
    )
    with _server_rights(user):
        _erase_other_apps_data(user, [p.pk for p in profiles])
        Subscription.objects.for_user(user).delete()
        Profile.objects.for_user(user).filter(pk__in=[p.pk for p in profiles]).delete()
    if supabase_configured():
        _auth_user_delete(user)


def _erase_other_apps_data(user: SupabaseUser, profile_ids: list[UUID]) -> None:
    """Rows of other apps that point at these profiles without a Django foreign key: import
    jobs, event streams (transcripts, analyses) and billing rows go with the account now, on
    every database (consultation sessions cascade with the profiles)."""
    from imports_app.services import import_jobs_erase
    from mediqom.billing.services import billing_erase
    from mediqom.streams.services import streams_erase

    import_jobs_erase(user=user)
    streams_erase(user=user, owner_ids=profile_ids)
    billing_erase(user=user, profile_ids=profile_ids)


def _auth_user_delete(user: SupabaseUser) -> None:
    from supabase_auth.errors import AuthError

    try:
        supabase_admin_client().auth.admin.delete_user(str(user.id))
    except (AuthError, OSError) as exc:
        if getattr(exc, "status", None) == 404:
            return  # already gone
        log.error("auth user deletion failed: %s", type(exc).__name__)
        raise ApiError(
            "Failed to delete account",
            code="account_delete_failed",
            status=502,
            legacy_error=True,
        ) from exc
