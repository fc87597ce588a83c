"""Writes of crypto_app: field-key rotation, encryption-method change and key recovery."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID

from django.db import connection, transaction
from django.utils import timezone

from crypto_app import ratelimit
from crypto_app.fields import decrypt_value, encrypt_value, needs_rotation
from crypto_app.primitives import CryptoFormatError, recovery_key_hash, recovery_key_hash_matches
from mediqom.audit.services import AuditContext, audit_record
from mediqom.auth.tokens import SupabaseUser
from mediqom.db.rls import service_context
from mediqom.errors import ApiError, InvalidInput, NotFound, RateLimited
from mediqom.logging import get_logger
from mediqom.records.models import PrivateKey, RecoveryAttempt

log = get_logger("crypto")

# (table, primary key column, encrypted column) of every encrypted field.
ENCRYPTED_COLUMNS = [("private_keys", "id", "key_pass"), ("stream_events", "id", "payload")]


def field_keys_rotate() -> int:
    """Re-encrypt every encrypted field under the newest key (legacy plaintext values too).

    Plain SQL, so migrations can call it whatever the models look like later. Returns the
    number of values rewritten; idempotent; rows are locked while rewritten.
    """
    rewritten = 0
    existing = set(connection.introspection.table_names())
    for table, pk_column, column in ENCRYPTED_COLUMNS:
        if table not in existing:  # migrations run this before later apps' tables exist
            continue
        select = (
            f'select "{pk_column}", "{column}" from "{table}" '  # noqa: S608 - constants only
            f'where "{column}" is not null and "{column}" <> %s'
        )
        update = f'update "{table}" set "{column}" = %s where "{pk_column}" = %s'  # noqa: S608
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                select += " for update"
            cursor.execute(select, [""])
            for pk, raw in cursor.fetchall():
                if needs_rotation(raw):
                    cursor.execute(update, [encrypt_value(decrypt_value(raw)), pk])
                    rewritten += 1
    return rewritten


# --------------------------------------------------------------------------- encryption method


PASSPHRASE = "passphrase"  # noqa: S105 - a method name, not a secret
PASSKEY_PRF = "passkey_prf"
KEY_DERIVATION_METHODS = (PASSPHRASE, PASSKEY_PRF)
ENCRYPTION_METHOD_CHANGE = "encryption_method_change"


@dataclass(frozen=True)
class KeyCredentials:
    """A private key re-encrypted by the client, with what unlocks it (contract §2.4)."""

    private_key: str
    key_hash: str
    key_derivation_method: str
    passkey_credential_id: str | None = None
    passkey_prf_salt: str | None = None

    def check(self) -> None:
        """Domain rules the serializer cannot see; raise before anything is read or written."""
        if self.key_derivation_method not in KEY_DERIVATION_METHODS:
            raise InvalidInput(
                "Invalid key derivation method",
                code="invalid_key_derivation_method",
                fields={"key_derivation_method": ["Invalid key derivation method"]},
            )
        if self.key_derivation_method == PASSKEY_PRF and not (
            self.passkey_credential_id and self.passkey_prf_salt
        ):
            raise InvalidInput(
                "Passkey credentials require passkey_credential_id and passkey_prf_salt",
                code="passkey_parameters_required",
            )


def _apply_credentials(key: PrivateKey, credentials: KeyCredentials) -> list[str]:
    """Set the new key material on `key`; the server-held passphrase is always dropped."""
    passkey = credentials.key_derivation_method == PASSKEY_PRF
    key.private_key = credentials.private_key
    key.key_hash = credentials.key_hash
    key.key_derivation_method = credentials.key_derivation_method
    key.key_pass = None
    key.passkey_credential_id = credentials.passkey_credential_id if passkey else None
    key.passkey_prf_salt = credentials.passkey_prf_salt if passkey else None
    return [
        "private_key",
        "key_hash",
        "key_derivation_method",
        "key_pass",
        "passkey_credential_id",
        "passkey_prf_salt",
    ]


@transaction.atomic
def private_key_method_change(
    *,
    user: SupabaseUser,
    audit: AuditContext,
    credentials: KeyCredentials,
    recovery_encrypted_key: str | None = None,
    recovery_key_hash: str | None = None,
) -> str:
    """POST /v1/settings/encryption: replace the caller's own key material; returns the method.

    A recovery ciphertext is only stored together with the hash that guards it.
    """
    credentials.check()
    if bool(recovery_encrypted_key) != bool(recovery_key_hash):
        raise InvalidInput(
            "recovery_encrypted_key and recovery_key_hash must be sent together",
            code="recovery_pair_required",
        )
    key = PrivateKey.objects.for_user(user).filter(pk=user.id).select_for_update().first()
    if key is None:
        raise NotFound("No encryption data found")
    now = timezone.now()
    fields = _apply_credentials(key, credentials)
    if recovery_encrypted_key and recovery_key_hash:
        key.recovery_encrypted_key = recovery_encrypted_key
        key.recovery_key_hash = recovery_key_hash
        key.recovery_created_at = now
        fields += ["recovery_encrypted_key", "recovery_key_hash", "recovery_created_at"]
    key.updated_at = now
    key.save(update_fields=[*fields, "updated_at"])
    RecoveryAttempt.objects.create(
        user_id=user.id,
        attempt_type=ENCRYPTION_METHOD_CHANGE,
        success=True,
        metadata={"new_method": credentials.key_derivation_method, "timestamp": now.isoformat()},
    )
    audit_record(
        audit, record_type="private_key", action="update", record_id=key.pk, profile_id=key.pk
    )
    return credentials.key_derivation_method


# --------------------------------------------------------------------------- recovery
#
# The three /v1/recover/* services share one frame (`_recovery_attempt`) and deliberately use
# several transactions instead of one `@transaction.atomic`:
#   1. the attempt row is inserted and committed first, under a per-email/per-IP lock, after
#      the rate-limit check (a refused attempt is recorded too, then answered with 429);
#   2. lookup, verification and the write run in one service transaction (no RLS identity:
#      the caller is anonymous) that also marks the attempt successful;
#   3. when step 2 fails, its rollback cannot take the attempt row with it: the row is
#      finished as failed in its own transaction.
# So every attempt leaves exactly one row, and concurrent attempts cannot overshoot the limit
# (each one's row is counted, as "pending", from the moment it starts).

INVALID_RECOVERY = "Invalid email or recovery key"
# Compared against when the account is unknown, so that case costs what a wrong key costs.
_DUMMY_RECOVERY_HASH = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

T = TypeVar("T")


def _invalid_recovery() -> ApiError:
    # Unknown email, no key row and a wrong key all answer this, byte for byte.
    return ApiError(INVALID_RECOVERY, code="invalid_recovery", status=401)


def _attempt_begin(*, caller: ratelimit.RecoveryCaller, attempt_type: str, endpoint: str) -> UUID:
    """Record the attempt (committed before any verification); 429 when over the limit."""
    with service_context():
        ratelimit.lock(caller)
        wait = ratelimit.retry_after(caller)
        attempt = RecoveryAttempt.objects.create(
            user_id=None,
            attempt_type=attempt_type,
            success=False,
            metadata={
                "email_sha256": caller.email_sha256,
                "ip": caller.ip,
                "endpoint": endpoint,
                "outcome": ratelimit.RATE_LIMITED if wait is not None else "pending",
            },
        )
    if wait is not None:
        log.warning("recovery %s refused: rate limited", endpoint)
        raise RateLimited(wait)
    return attempt.pk


def _attempt_finish(attempt_id: UUID, *, user_id: UUID | None, success: bool, outcome: str) -> None:
    # unscoped: recovery is anonymous; the row is the one this request inserted, by its id
    attempt = RecoveryAttempt.objects.select_for_update().get(pk=attempt_id)
    attempt.user_id = user_id
    attempt.success = success
    attempt.metadata = {**attempt.metadata, "outcome": outcome}
    attempt.save(update_fields=["user_id", "success", "metadata"])


def _recovery_target(email: str, *, lock: bool) -> PrivateKey | None:
    """The key row of the account with this email (account owners only; ambiguous → None)."""
    # unscoped: recovery by email (anonymous caller, proven only by the recovery key)
    rows = PrivateKey.objects.select_related("profile").filter(
        profile__email__iexact=ratelimit.normalize_email(email), profile__auth_id__isnull=False
    )
    if lock:
        rows = rows.select_for_update(of=("self",))
    found = list(rows.order_by("pk")[:2])
    if len(found) > 1:
        log.warning("recovery lookup matched several accounts; refusing")
        return None
    return found[0] if found else None


def _verify(key: PrivateKey | None, recovery_key: str) -> PrivateKey:
    """The key row if its stored recovery hash matches `recovery_key` (constant-time compare)."""
    if key is None:
        recovery_key_hash_matches(recovery_key, _DUMMY_RECOVERY_HASH)
        raise _invalid_recovery()
    if not key.recovery_key_hash:
        # Never verify "by default": without a stored hash nothing proves the caller's key.
        raise InvalidInput(
            "No recovery key configured for this account", code="recovery_not_configured"
        )
    if not recovery_key_hash_matches(recovery_key, key.recovery_key_hash):
        raise _invalid_recovery()
    if not key.recovery_encrypted_key:
        raise InvalidInput(
            "No recovery key configured for this account", code="recovery_not_configured"
        )
    return key


def _recovery_attempt(
    *,
    attempt_type: str,
    endpoint: str,
    email: str,
    recovery_key: str,
    audit: AuditContext,
    lock: bool,
    work: Callable[[PrivateKey], T],
) -> T:
    """Rate-limit, record, verify, then run `work` on the verified key row (see above)."""
    caller = ratelimit.RecoveryCaller.build(email=email, ip=audit.ip)
    attempt_id = _attempt_begin(caller=caller, attempt_type=attempt_type, endpoint=endpoint)
    user_id: UUID | None = None
    try:
        with service_context():
            target = _recovery_target(email, lock=lock)
            user_id = target.pk if target is not None else None
            result = work(_verify(target, recovery_key))
            _attempt_finish(attempt_id, user_id=user_id, success=True, outcome="ok")
    except ApiError as exc:
        with transaction.atomic():
            _attempt_finish(attempt_id, user_id=user_id, success=False, outcome=exc.code)
        log.info("recovery %s failed: %s", endpoint, exc.code)
        raise
    log.info("recovery %s succeeded", endpoint)
    return result


def recovery_verify(*, email: str, recovery_key: str, audit: AuditContext) -> dict[str, str | None]:
    """POST /v1/recover/verify: the recovery ciphertext and public key for a valid key."""

    def read(key: PrivateKey) -> dict[str, str | None]:
        audit_record(
            audit, record_type="private_key", action="read", record_id=key.pk, profile_id=key.pk
        )
        return {
            "recovery_encrypted_key": key.recovery_encrypted_key,
            "public_key": key.profile.public_key,
        }

    return _recovery_attempt(
        attempt_type=ratelimit.RECOVERY_VERIFY,
        endpoint="verify",
        email=email,
        recovery_key=recovery_key,
        audit=audit,
        lock=False,
        work=read,
    )


def recovery_credentials_reset(
    *, email: str, recovery_key: str, audit: AuditContext, credentials: KeyCredentials
) -> None:
    """POST /v1/recover/update: new passphrase/passkey key material, proven by the recovery key."""
    credentials.check()

    def reset(key: PrivateKey) -> None:
        fields = _apply_credentials(key, credentials)
        key.updated_at = timezone.now()
        key.save(update_fields=[*fields, "updated_at"])
        audit_record(
            audit, record_type="private_key", action="update", record_id=key.pk, profile_id=key.pk
        )

    _recovery_attempt(
        attempt_type=ratelimit.PASSPHRASE_RESET,
        endpoint="update",
        email=email,
        recovery_key=recovery_key,
        audit=audit,
        lock=True,
        work=reset,
    )


def recovery_key_replace(
    *,
    email: str,
    recovery_key: str,
    audit: AuditContext,
    new_recovery_encrypted_key: str,
    new_recovery_key_hash: str | None = None,
    new_recovery_key: str | None = None,
) -> None:
    """POST /v1/recover/update-recovery: a new recovery ciphertext AND its hash.

    The hash comes from `new_recovery_key_hash`, or is computed from `new_recovery_key`; with
    neither, nothing is written (the reference kept the old hash: the old key stayed valid and
    the new one never verified).
    """
    new_hash = _new_recovery_hash(new_recovery_key_hash, new_recovery_key)

    def replace(key: PrivateKey) -> None:
        now = timezone.now()
        key.recovery_encrypted_key = new_recovery_encrypted_key
        key.recovery_key_hash = new_hash
        key.recovery_created_at = now
        key.updated_at = now
        key.save(
            update_fields=[
                "recovery_encrypted_key",
                "recovery_key_hash",
                "recovery_created_at",
                "updated_at",
            ]
        )
        audit_record(
            audit, record_type="private_key", action="update", record_id=key.pk, profile_id=key.pk
        )

    _recovery_attempt(
        attempt_type=ratelimit.RECOVERY_UPDATE,
        endpoint="update-recovery",
        email=email,
        recovery_key=recovery_key,
        audit=audit,
        lock=True,
        work=replace,
    )


def _new_recovery_hash(given_hash: str | None, new_key: str | None) -> str:
    if new_key:
        try:
            computed = recovery_key_hash(new_key)
        except CryptoFormatError as exc:
            raise InvalidInput(
                str(exc), code="invalid_recovery_key", fields={"newRecoveryKey": [str(exc)]}
            ) from None
        if given_hash and given_hash != computed:
            raise InvalidInput(
                "newRecoveryKeyHash does not match newRecoveryKey", code="recovery_hash_mismatch"
            )
        return computed
    if given_hash:
        return given_hash
    raise InvalidInput(
        "newRecoveryKeyHash or newRecoveryKey is required",
        code="recovery_hash_required",
        fields={"newRecoveryKeyHash": ["newRecoveryKeyHash or newRecoveryKey is required"]},
    )
