"""Writes of crypto_app: field-key rotation (the endpoints' services live below it)."""

from __future__ import annotations

from django.db import connection, transaction

from crypto_app.fields import decrypt_value, encrypt_value, needs_rotation

# (table, primary key column, encrypted column) of every encrypted field.
ENCRYPTED_COLUMNS = [("private_keys", "id", "key_pass")]


def field_keys_rotate() -> int:
    """Re-encrypt every encrypted field under the newest key (legacy plaintext values too).

    Plain SQL, so migrations can call it whatever the models look like later. Returns the
    number of values rewritten; idempotent; rows are locked while rewritten.
    """
    rewritten = 0
    for table, pk_column, column in ENCRYPTED_COLUMNS:
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
