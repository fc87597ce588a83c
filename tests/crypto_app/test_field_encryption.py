"""key_pass at rest: encrypted with the server's field keys, rotatable, never stored in clear."""

from __future__ import annotations

import base64
import io
import os

import pytest
from django.core.management import call_command
from django.db import connection

from crypto_app.fields import PREFIX, decrypt_value, encrypt_value
from mediqom.records.models import PrivateKey
from tests.conftest import ok

pytestmark = pytest.mark.django_db

PASSPHRASE = "convenience-mode passphrase ✓"


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def raw_key_pass(profile_id: object) -> str:
    with connection.cursor() as cursor:
        cursor.execute("select key_pass from private_keys where id = %s", [profile_id])
        return str(cursor.fetchone()[0])


def test_it_stores_key_pass_encrypted_and_reads_it_back(alice):
    PrivateKey.objects.create(profile_id=alice.id, private_key="ENC", key_pass=PASSPHRASE)
    stored = raw_key_pass(alice.id)
    assert stored.startswith(f"{PREFIX}:")
    assert PASSPHRASE not in stored
    assert PrivateKey.objects.get(pk=alice.id).key_pass == PASSPHRASE


def test_old_keys_still_decrypt_and_rotation_moves_values_to_the_newest(alice, settings):
    old = settings.MEDIQOM_FIELD_ENCRYPTION_KEYS[0]
    PrivateKey.objects.create(profile_id=alice.id, private_key="ENC", key_pass=PASSPHRASE)
    before = raw_key_pass(alice.id)

    settings.MEDIQOM_FIELD_ENCRYPTION_KEYS = [new_key(), old]
    assert PrivateKey.objects.get(pk=alice.id).key_pass == PASSPHRASE
    call_command("rotate_field_keys", stdout=io.StringIO())
    after = raw_key_pass(alice.id)
    assert after != before
    assert after.split(":")[1] != before.split(":")[1]

    settings.MEDIQOM_FIELD_ENCRYPTION_KEYS = settings.MEDIQOM_FIELD_ENCRYPTION_KEYS[:1]
    assert PrivateKey.objects.get(pk=alice.id).key_pass == PASSPHRASE


def test_legacy_plaintext_is_read_and_encrypted_by_rotation(alice):
    PrivateKey.objects.create(profile_id=alice.id, private_key="ENC")
    with connection.cursor() as cursor:
        cursor.execute(
            "update private_keys set key_pass = %s where id = %s", [PASSPHRASE, alice.id]
        )
    assert PrivateKey.objects.get(pk=alice.id).key_pass == PASSPHRASE
    call_command("rotate_field_keys", stdout=io.StringIO())
    assert raw_key_pass(alice.id).startswith(f"{PREFIX}:")


def test_a_value_under_an_unknown_key_fails_loudly(settings):
    stored = encrypt_value("x")
    settings.MEDIQOM_FIELD_ENCRYPTION_KEYS = [new_key()]
    with pytest.raises(Exception, match="not in MEDIQOM_FIELD_ENCRYPTION_KEY"):
        decrypt_value(stored)


def test_no_plaintext_passphrase_anywhere_in_the_database_after_onboarding(alice, client_for):
    """Scan every text-like column of every table for the convenience-mode passphrase."""
    from tests.records.test_api_user import onboarding_body

    body = onboarding_body(passphrase=PASSPHRASE)
    from crypto_app.primitives import bcrypt_hash

    body["key_hash"] = bcrypt_hash(PASSPHRASE)
    assert client_for(alice).post("/v1/account/onboarding", body, format="json").status_code == 200
    assert (
        ok(client_for(alice).get("/v1/med/user")).json()["private_keys"]["key_pass"] == PASSPHRASE
    )

    hits = []
    with connection.cursor() as cursor:
        cursor.execute(
            """select table_name, column_name from information_schema.columns
               where table_schema = 'public'
                 and data_type in ('text', 'character varying', 'jsonb', 'json', 'ARRAY')"""
        )
        for table, column in cursor.fetchall():
            cursor.execute(
                f'select count(*) from "{table}" where "{column}"::text like %s',  # noqa: S608
                [f"%{PASSPHRASE}%"],
            )
            if cursor.fetchone()[0]:
                hits.append(f"{table}.{column}")
    assert hits == []


def test_field_values_are_the_primitives_aes_gcm_envelope_both_ways(settings):
    """The field cipher (cached, OpenSSL) and crypto_app.primitives read each other's values,
    so values stored before the switch still decrypt."""
    from crypto_app.primitives import aes_decrypt, aes_encrypt

    raw = base64.b64decode(settings.MEDIQOM_FIELD_ENCRYPTION_KEYS[0])
    stored = encrypt_value(PASSPHRASE)
    _, key_id, envelope = stored.split(":", 2)
    assert aes_decrypt(raw, envelope).decode() == PASSPHRASE
    older = f"{PREFIX}:{key_id}:{aes_encrypt(raw, 'written by pycryptodome ✓'.encode())}"
    assert decrypt_value(older) == "written by pycryptodome ✓"
    assert encrypt_value(PASSPHRASE) != stored  # a fresh IV every time
    flipped = base64.b64decode(envelope)
    flipped = flipped[:-1] + bytes([flipped[-1] ^ 1])
    with pytest.raises(Exception, match="does not decrypt"):
        decrypt_value(f"{PREFIX}:{key_id}:{base64.b64encode(flipped).decode()}")
    with pytest.raises(Exception, match="does not decrypt"):
        decrypt_value(f"{PREFIX}:{key_id}:not base64!")
