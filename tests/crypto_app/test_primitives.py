"""Unit tests for crypto_app.primitives (no database, no Node)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from Crypto.Cipher import AES, PKCS1_OAEP
from Crypto.Hash import SHA256
from Crypto.PublicKey import RSA
from Crypto.Util.asn1 import DerSequence
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF as CryptographyHKDF

from crypto_app import primitives as p
from crypto_app.primitives import CryptoFormatError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webcrypto"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
DISPLAY_KEY = re.compile(r"(?:[0-9A-HJKMNP-TV-Z]{4}-){9}[0-9A-HJKMNP-TV-Z]{4}")


@pytest.fixture(scope="module")
def keypair() -> tuple[str, str]:
    return p.generate_rsa_keypair()


@pytest.fixture(scope="module")
def other_keypair() -> tuple[str, str]:
    """A second, unrelated key pair (the committed WebCrypto one, to save a key generation)."""
    vectors = json.loads((FIXTURES / "vectors.json").read_text("utf-8"))
    return vectors["rsa"]["public_pem"], vectors["rsa"]["private_pem"]


def _flip(envelope: str, index: int) -> str:
    raw = bytearray(base64.b64decode(envelope))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def _pem_body(pem: str) -> bytes:
    return base64.b64decode("".join(pem.strip().splitlines()[1:-1]))


def _raises_without_leaking(fn: Callable[[], object], *secrets: str) -> CryptoFormatError:
    with pytest.raises(CryptoFormatError) as info:
        fn()
    message = str(info.value)
    for secret in secrets:
        assert secret not in message
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__ or info.value.__context__ is None
    return info.value


# --------------------------------------------------------------------------- AES-256-GCM


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 1024, 1024 * 1024])
def test_it_round_trips_aes_envelope(size: int) -> None:
    key = p.generate_aes_key()
    plaintext = bytes(range(256)) * (size // 256) + bytes(size % 256)
    envelope = p.aes_encrypt(key, plaintext)
    raw = base64.b64decode(envelope, validate=True)
    assert len(raw) == 12 + size + 16
    assert p.aes_decrypt(key, envelope) == plaintext


def test_it_uses_a_fresh_iv_for_every_encryption() -> None:
    key = p.generate_aes_key()
    first, second = p.aes_encrypt(key, b"same"), p.aes_encrypt(key, b"same")
    assert first != second
    assert base64.b64decode(first)[:12] != base64.b64decode(second)[:12]


def test_it_writes_an_envelope_any_gcm_implementation_can_open() -> None:
    key = p.generate_aes_key()
    raw = base64.b64decode(p.aes_encrypt(key, b"interop"))
    cipher = AES.new(key, AES.MODE_GCM, nonce=raw[:12])
    assert cipher.decrypt_and_verify(raw[12:-16], raw[-16:]) == b"interop"


def test_it_round_trips_json_like_json_stringify() -> None:
    key = p.generate_aes_key()
    value = {"title": "Krevní obraz 血液 😀", "n": [1, -2, 0.5, None, True], "q": 'a"b\\c\n\u0001'}
    envelope = p.aes_encrypt_json(key, value)
    assert p.aes_decrypt_json(key, envelope) == value
    expected = (
        '{"title":"Krevní obraz 血液 😀","n":[1,-2,0.5,null,true],"q":"a\\"b\\\\c\\n\\u0001"}'
    )
    assert p.aes_decrypt(key, envelope) == expected.encode("utf-8")


def test_it_escapes_lone_surrogates_like_json_stringify() -> None:
    key = p.generate_aes_key()
    envelope = p.aes_encrypt_json(key, ["\ud800", "\ud83d\ude00"])
    assert p.aes_decrypt(key, envelope) == '["\\ud800","😀"]'.encode()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {"k": object()}, {1j: 1}])
def test_it_rejects_values_json_cannot_carry(value: object) -> None:
    with pytest.raises(CryptoFormatError):
        p.aes_encrypt_json(p.generate_aes_key(), value)


def test_it_rejects_non_json_plaintext_when_parsing() -> None:
    key = p.generate_aes_key()
    with pytest.raises(CryptoFormatError):
        p.aes_decrypt_json(key, p.aes_encrypt(key, b"\xff not json"))


def test_it_exports_and_imports_raw_aes_keys() -> None:
    key = p.generate_aes_key()
    exported = p.export_aes_key(key)
    assert len(key) == 32
    assert len(exported) == 44
    assert exported.endswith("=")
    assert p.import_aes_key(exported) == key
    assert p.import_aes_key(exported.rstrip("=")) == key


@pytest.mark.parametrize("size", [0, 16, 24, 31, 33, 64])
def test_it_rejects_wrong_aes_key_size(size: int) -> None:
    bad_key = bytes(size)
    envelope = p.aes_encrypt(p.generate_aes_key(), b"x")
    for call in (
        lambda: p.aes_encrypt(bad_key, b"x"),
        lambda: p.aes_decrypt(bad_key, envelope),
        lambda: p.export_aes_key(bad_key),
        lambda: p.import_aes_key(base64.b64encode(bad_key).decode()),
    ):
        with pytest.raises(CryptoFormatError):
            call()


def test_it_rejects_a_key_given_as_text() -> None:
    key_text: Any = p.export_aes_key(p.generate_aes_key())
    with pytest.raises(CryptoFormatError):
        p.aes_encrypt(key_text, b"x")


def test_it_accepts_base64_without_padding() -> None:
    key = p.generate_aes_key()
    for plaintext in (b"a", b"ab", b"abc"):
        envelope = p.aes_encrypt(key, plaintext)
        assert p.aes_decrypt(key, envelope.rstrip("=")) == plaintext


@pytest.mark.parametrize("region", ["iv", "ciphertext", "tag"])
def test_it_rejects_tampered_envelope(region: str) -> None:
    key = p.generate_aes_key()
    envelope = p.aes_encrypt(key, b"secret medical text")
    index = {"iv": 0, "ciphertext": 12, "tag": -1}[region]
    _raises_without_leaking(
        lambda: p.aes_decrypt(key, _flip(envelope, index)), "secret medical text"
    )


def test_it_rejects_truncated_envelope() -> None:
    key = p.generate_aes_key()
    raw = base64.b64decode(p.aes_encrypt(key, b"hello"))
    for cut in (0, 1, 12, 27):
        with pytest.raises(CryptoFormatError):
            p.aes_decrypt(key, base64.b64encode(raw[:cut]).decode())
    with pytest.raises(CryptoFormatError):
        p.aes_decrypt(key, base64.b64encode(raw[:-1]).decode())


def test_it_rejects_16_byte_iv_envelope() -> None:
    key = p.generate_aes_key()
    iv = bytes(range(16))
    ciphertext, tag = AES.new(key, AES.MODE_GCM, nonce=iv).encrypt_and_digest(b"sixteen-byte iv")
    envelope = base64.b64encode(iv + ciphertext + tag).decode()
    with pytest.raises(CryptoFormatError):
        p.aes_decrypt(key, envelope)


@pytest.mark.parametrize(
    "garbage",
    [
        "-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_",  # URL-safe alphabet
        "not base64 at all!",
        "abc=def=",
        "a",  # length 1 mod 4
        "ab=",
        "abcd===",
        "ZmFrZQ==\n",
        "\u00e9\u00e9\u00e9\u00e9",
        "",
    ],
)
def test_it_rejects_garbage_envelopes(garbage: str) -> None:
    with pytest.raises(CryptoFormatError):
        p.aes_decrypt(p.generate_aes_key(), garbage)


def test_it_rejects_url_safe_base64_of_a_real_envelope() -> None:
    key = p.generate_aes_key()
    for _ in range(50):
        envelope = p.aes_encrypt(key, b"find + or /")
        if "+" in envelope or "/" in envelope:
            break
    url_safe = envelope.replace("+", "-").replace("/", "_")
    assert url_safe != envelope
    with pytest.raises(CryptoFormatError):
        p.aes_decrypt(key, url_safe)


def test_it_rejects_non_string_envelopes() -> None:
    key = p.generate_aes_key()
    envelope: Any = p.aes_encrypt(key, b"x").encode()
    with pytest.raises(CryptoFormatError):
        p.aes_decrypt(key, envelope)


def test_it_rejects_the_wrong_aes_key() -> None:
    envelope = p.aes_encrypt(p.generate_aes_key(), b"x")
    with pytest.raises(CryptoFormatError):
        p.aes_decrypt(p.generate_aes_key(), envelope)


# --------------------------------------------------------------------------- RSA / PEM


def test_it_generates_pems_in_the_client_format(keypair: tuple[str, str]) -> None:
    public_pem, private_pem = keypair
    for pem, kind in ((public_pem, "PUBLIC"), (private_pem, "PRIVATE")):
        lines = pem.split("\n")
        assert lines[0] == f"-----BEGIN {kind} KEY-----"
        assert lines[-1] == f"-----END {kind} KEY-----"
        assert not pem.endswith("\n")
        assert "\r" not in pem
        body = lines[1:-1]
        assert all(len(line) == 64 for line in body[:-1])
        assert 0 < len(body[-1]) <= 64
    public = RSA.import_key(_pem_body(public_pem))
    private = RSA.import_key(_pem_body(private_pem))
    assert public.size_in_bits() == private.size_in_bits() == 2048
    assert public.e == 65537
    assert private.public_key() == public


def test_it_writes_spki_and_pkcs8_structures(keypair: tuple[str, str]) -> None:
    public_pem, private_pem = keypair
    # SPKI: SEQUENCE { SEQUENCE { rsaEncryption, NULL }, BIT STRING }
    assert _pem_body(public_pem)[4:19] == bytes.fromhex("300d06092a864886f70d0101010500")
    # PKCS#8: SEQUENCE { INTEGER 0, SEQUENCE { rsaEncryption, NULL }, OCTET STRING }
    assert _pem_body(private_pem)[4:22] == bytes.fromhex("020100300d06092a864886f70d0101010500")


def test_it_accepts_pem_variants_the_client_accepts(keypair: tuple[str, str]) -> None:
    public_pem, private_pem = keypair
    key = p.generate_aes_key()

    def variants(pem: str) -> list[str]:
        lines = pem.split("\n")
        return [
            pem,
            pem + "\n",
            pem.replace("\n", "\r\n"),
            pem.replace("\n", "\r\n") + "\r\n",
            "\n".join([lines[0], "".join(lines[1:-1]), lines[-1]]),
            "  \n" + pem + "\n\n",
        ]

    for public_variant in variants(public_pem):
        wrapped = p.wrap_key(public_variant, key)
        for private_variant in variants(private_pem):
            assert p.unwrap_key(private_variant, wrapped) == key


def _rsa_public_key_der(key: RSA.RsaKey) -> bytes:
    """PKCS#1 RSAPublicKey DER (what the SPKI BIT STRING wraps)."""
    return bytes(DerSequence([key.n, key.e]).encode())


def test_it_rejects_pkcs1_pems(keypair: tuple[str, str]) -> None:
    public_pem, private_pem = keypair
    key = RSA.import_key(_pem_body(private_pem))
    pkcs1_private = key.export_key(format="PEM", pkcs=1).decode()
    assert pkcs1_private.startswith("-----BEGIN RSA PRIVATE KEY-----")
    pkcs1_public = (
        "-----BEGIN RSA PUBLIC KEY-----\n"
        + base64.b64encode(_rsa_public_key_der(key)).decode()
        + "\n-----END RSA PUBLIC KEY-----"
    )
    with pytest.raises(CryptoFormatError):
        p.load_private_key(pkcs1_private)
    with pytest.raises(CryptoFormatError):
        p.unwrap_key(pkcs1_private, p.wrap_key(public_pem, p.generate_aes_key()))
    with pytest.raises(CryptoFormatError):
        p.load_public_key(pkcs1_public)
    with pytest.raises(CryptoFormatError):
        p.wrap_key(pkcs1_public, p.generate_aes_key())


def test_it_rejects_pkcs1_bodies_under_pkcs8_headers(keypair: tuple[str, str]) -> None:
    key = RSA.import_key(_pem_body(keypair[1]))
    pkcs1_private_body = base64.b64encode(key.export_key(format="DER", pkcs=1)).decode()
    pkcs1_public_body = base64.b64encode(_rsa_public_key_der(key)).decode()
    with pytest.raises(CryptoFormatError):
        p.load_private_key(
            f"-----BEGIN PRIVATE KEY-----\n{pkcs1_private_body}\n-----END PRIVATE KEY-----"
        )
    with pytest.raises(CryptoFormatError):
        p.load_public_key(
            f"-----BEGIN PUBLIC KEY-----\n{pkcs1_public_body}\n-----END PUBLIC KEY-----"
        )


def test_it_rejects_swapped_and_broken_pems(keypair: tuple[str, str]) -> None:
    public_pem, private_pem = keypair
    bad = [
        "",
        "not a pem",
        public_pem.replace("PUBLIC", "PRIVATE"),
        private_pem.replace("PRIVATE", "PUBLIC"),
        public_pem.replace("-----END PUBLIC KEY-----", ""),
        "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----",
        public_pem.replace("M", "-", 1),
        public_pem + "\n" + public_pem,
    ]
    for pem in bad:
        with pytest.raises(CryptoFormatError):
            p.load_public_key(pem)
    with pytest.raises(CryptoFormatError):
        p.load_private_key(public_pem)
    with pytest.raises(CryptoFormatError):
        p.load_public_key(private_pem)
    not_a_string: Any = public_pem.encode()
    with pytest.raises(CryptoFormatError):
        p.load_public_key(not_a_string)


def test_it_rejects_rsa_keys_smaller_than_2048_bits() -> None:
    small = RSA.generate(1024)  # noqa: S505 - deliberately weak: it must be refused
    public_pem = (
        "-----BEGIN PUBLIC KEY-----\n"
        + base64.b64encode(small.public_key().export_key(format="DER")).decode()
        + "\n-----END PUBLIC KEY-----"
    )
    with pytest.raises(CryptoFormatError):
        p.wrap_key(public_pem, p.generate_aes_key())


def test_it_wraps_the_base64_text_of_the_aes_key(keypair: tuple[str, str]) -> None:
    public_pem, private_pem = keypair
    key = p.generate_aes_key()
    wrapped = p.wrap_key(public_pem, key)
    assert len(wrapped) == 344
    assert p.rsa_decrypt(private_pem, wrapped) == p.export_aes_key(key).encode("ascii")
    assert p.unwrap_key(private_pem, wrapped) == key


def test_it_uses_oaep_with_sha256_for_hash_and_mgf1(keypair: tuple[str, str]) -> None:
    public_pem, private_pem = keypair
    private = RSA.import_key(_pem_body(private_pem))
    wrapped = base64.b64decode(p.rsa_encrypt(public_pem, b"payload"))
    assert PKCS1_OAEP.new(private, hashAlgo=SHA256).decrypt(wrapped) == b"payload"


def test_it_rejects_a_key_wrapped_as_raw_bytes(keypair: tuple[str, str]) -> None:
    public_pem, private_pem = keypair
    raw_wrapped = p.rsa_encrypt(public_pem, p.generate_aes_key())
    with pytest.raises(CryptoFormatError):
        p.unwrap_key(private_pem, raw_wrapped)


def test_it_rejects_oaep_sha1_wrapped_keys(keypair: tuple[str, str]) -> None:
    public_pem, private_pem = keypair
    public = RSA.import_key(_pem_body(public_pem))
    sha1_wrapped = PKCS1_OAEP.new(public).encrypt(p.export_aes_key(p.generate_aes_key()).encode())
    with pytest.raises(CryptoFormatError):
        p.unwrap_key(private_pem, base64.b64encode(sha1_wrapped).decode())


def test_it_rejects_wrong_private_key_for_unwrap(
    keypair: tuple[str, str], other_keypair: tuple[str, str]
) -> None:
    key = p.generate_aes_key()
    wrapped = p.wrap_key(keypair[0], key)
    _raises_without_leaking(lambda: p.unwrap_key(other_keypair[1], wrapped), p.export_aes_key(key))


def test_it_rejects_malformed_rsa_ciphertext(keypair: tuple[str, str]) -> None:
    public_pem, private_pem = keypair
    wrapped = p.wrap_key(public_pem, p.generate_aes_key())
    for bad in (wrapped[:-8], wrapped.replace("=", "") + "AAAA", "!!!!", _flip(wrapped, 5)):
        with pytest.raises(CryptoFormatError):
            p.unwrap_key(private_pem, bad)


def test_it_rejects_oversized_rsa_plaintext(keypair: tuple[str, str]) -> None:
    with pytest.raises(CryptoFormatError):
        p.rsa_encrypt(keypair[0], bytes(191))
    assert p.rsa_decrypt(keypair[1], p.rsa_encrypt(keypair[0], bytes(190))) == bytes(190)


# --------------------------------------------------------------------------- passphrase envelope


def test_it_round_trips_passphrase_envelope(keypair: tuple[str, str]) -> None:
    private_pem = keypair[1].encode()
    envelope = p.passphrase_encrypt("correct horse ✓", private_pem)
    raw = base64.b64decode(envelope, validate=True)
    assert len(raw) == 16 + 12 + len(private_pem) + 16
    assert p.passphrase_decrypt("correct horse ✓", envelope) == private_pem


def test_it_derives_the_passphrase_key_with_pbkdf2_sha256_100k() -> None:
    envelope = p.passphrase_encrypt("pw", b"plain")
    raw = base64.b64decode(envelope)
    key = hashlib.pbkdf2_hmac("sha256", b"pw", raw[:16], 100_000, dklen=32)
    cipher = AES.new(key, AES.MODE_GCM, nonce=raw[16:28])
    assert cipher.decrypt_and_verify(raw[28:-16], raw[-16:]) == b"plain"


def test_it_rejects_the_wrong_passphrase() -> None:
    envelope = p.passphrase_encrypt("right passphrase", b"private key pem")
    _raises_without_leaking(
        lambda: p.passphrase_decrypt("wrong passphrase", envelope),
        "wrong passphrase",
        "right passphrase",
        "private key pem",
    )


def test_it_rejects_short_passphrase_envelopes() -> None:
    for size in (0, 16, 28, 43):
        with pytest.raises(CryptoFormatError):
            p.passphrase_decrypt("pw", base64.b64encode(bytes(size)).decode())


# --------------------------------------------------------------------------- recovery key


def _client_base32(data: bytes) -> str:
    """Port of the client's generateRecoveryKey loop (recovery.ts)."""
    out, buffer, bits = "", 0, 0
    for byte in data:
        buffer = ((buffer << 8) | byte) & 0xFFFFFFFF
        bits += 8
        while bits >= 5:
            bits -= 5
            out += CROCKFORD[(buffer >> bits) & 0x1F]
    return out.ljust(40, "0")


def test_it_generates_recovery_keys_in_display_form() -> None:
    keys = {p.generate_recovery_key() for _ in range(20)}
    assert len(keys) == 20
    for key in keys:
        assert len(key) == 49
        assert DISPLAY_KEY.fullmatch(key)


def test_it_encodes_recovery_keys_like_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    for seed in (
        bytes(25),
        bytes([0xFF]) * 25,
        bytes(range(25)),
        hashlib.sha256(b"x").digest()[:25],
    ):
        monkeypatch.setattr(secrets, "token_bytes", lambda n, seed=seed: seed[:n])
        assert p.generate_recovery_key().replace("-", "") == _client_base32(seed)


def test_it_normalises_recovery_keys() -> None:
    key = p.generate_recovery_key()
    compact = key.replace("-", "")
    assert p.normalize_recovery_key(key) == compact
    assert p.normalize_recovery_key(key.lower()) == compact
    assert p.normalize_recovery_key(key.replace("-", " ")) == compact
    assert p.normalize_recovery_key(" " + key.replace("-", "\t\n") + " ") == compact
    assert p.normalize_recovery_key(compact.lower()) == compact
    assert p.normalize_recovery_key(key.replace("-", "\u00a0")) == compact


@pytest.mark.parametrize("letter", ["O", "I", "L", "U", "o", "i", "l", "u"])
def test_it_rejects_recovery_keys_with_ambiguous_letters(letter: str) -> None:
    key = p.generate_recovery_key().replace("-", "")
    with pytest.raises(CryptoFormatError):
        p.normalize_recovery_key(letter + key[1:])


@pytest.mark.parametrize("length", [0, 1, 39, 41, 48])
def test_it_rejects_recovery_keys_of_the_wrong_length(length: int) -> None:
    with pytest.raises(CryptoFormatError):
        p.normalize_recovery_key("A" * length)


def test_it_rejects_non_string_recovery_keys() -> None:
    not_text: Any = b"0" * 40
    with pytest.raises(CryptoFormatError):
        p.normalize_recovery_key(not_text)


def test_it_hashes_recovery_keys_deterministically() -> None:
    key = p.generate_recovery_key()
    normalised = key.replace("-", "")
    expected = base64.b64encode(
        hashlib.sha256((normalised + "mediqom-recovery-hash-v1").encode()).digest()
    ).decode()
    assert p.recovery_key_hash(key) == expected
    assert p.recovery_key_hash(key.lower()) == expected
    assert p.recovery_key_hash(normalised) == expected
    assert p.recovery_key_hash(p.generate_recovery_key()) != expected


def test_it_matches_recovery_key_hashes() -> None:
    key = p.generate_recovery_key()
    stored = p.recovery_key_hash(key)
    assert p.recovery_key_hash_matches(key, stored)
    assert p.recovery_key_hash_matches(key.lower().replace("-", " "), stored)
    assert not p.recovery_key_hash_matches(p.generate_recovery_key(), stored)
    assert not p.recovery_key_hash_matches(key, stored[:-2])
    assert not p.recovery_key_hash_matches(key, "")
    assert not p.recovery_key_hash_matches("O" * 40, stored)
    assert not p.recovery_key_hash_matches("short", stored)
    not_text: Any = None
    assert not p.recovery_key_hash_matches(key, not_text)
    assert not p.recovery_key_hash_matches(not_text, stored)
    assert not p.recovery_key_hash_matches(key, "é" + stored)


def test_it_round_trips_recovery_envelope() -> None:
    key = p.generate_recovery_key()
    envelope = p.recovery_encrypt(key, b"-----BEGIN PRIVATE KEY-----")
    assert len(base64.b64decode(envelope)) == 12 + 27 + 16  # no salt inside
    assert (
        p.recovery_decrypt(key.lower().replace("-", ""), envelope) == b"-----BEGIN PRIVATE KEY-----"
    )


def test_it_derives_the_recovery_key_with_hkdf_sha256() -> None:
    key = p.generate_recovery_key()
    expected = CryptographyHKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"mediqom-recovery-key-v1",
        info=b"private-key-encryption",
    ).derive(key.replace("-", "").encode())
    assert p.recovery_derive_key(key) == expected


def test_it_rejects_the_wrong_recovery_key() -> None:
    key = p.generate_recovery_key()
    envelope = p.recovery_encrypt(key, b"pem")
    other = p.generate_recovery_key()
    _raises_without_leaking(lambda: p.recovery_decrypt(other, envelope), other, key)
    with pytest.raises(CryptoFormatError):
        p.recovery_encrypt("O" * 40, b"pem")


# --------------------------------------------------------------------------- passkey PRF


def test_it_derives_the_prf_key_with_hkdf_sha256() -> None:
    prf_output = bytes(range(32))
    expected = CryptographyHKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"mediqom-prf-derived-key-v1",
        info=b"private-key-encryption",
    ).derive(prf_output)
    assert p.prf_derive_key(prf_output) == expected
    assert p.prf_derive_key(prf_output) != p.prf_derive_key(bytes(32))
    key = p.prf_derive_key(prf_output)
    assert p.aes_decrypt(key, p.aes_encrypt(key, b"pem")) == b"pem"


def test_it_rejects_empty_or_textual_prf_output() -> None:
    with pytest.raises(CryptoFormatError):
        p.prf_derive_key(b"")
    as_text: Any = "00" * 32
    with pytest.raises(CryptoFormatError):
        p.prf_derive_key(as_text)


# --------------------------------------------------------------------------- bcrypt


def test_it_hashes_passphrases_in_bcryptjs_form() -> None:
    hashed = p.bcrypt_hash("correct horse ✓")
    assert hashed.startswith("$2a$10$")
    assert len(hashed) == 60
    assert p.bcrypt_verify("correct horse ✓", hashed)
    assert not p.bcrypt_verify("correct horse", hashed)


def test_it_truncates_bcrypt_passphrases_to_72_bytes_like_bcryptjs() -> None:
    long = "a" * 71 + "é" + " tail"  # "é" straddles the 72-byte boundary
    hashed = p.bcrypt_hash(long)
    assert p.bcrypt_verify(long, hashed)
    assert p.bcrypt_verify("a" * 71 + "é" + " another tail", hashed)
    # Truncation is by bytes, not characters: "Ã" (c3 83) shares its first byte with "é" (c3 a9).
    assert p.bcrypt_verify("a" * 71 + "\u00c3", hashed)
    assert not p.bcrypt_verify("a" * 71 + "b", hashed)
    assert not p.bcrypt_verify("a" * 71, hashed)
    exact = "b" * 72
    hashed_exact = p.bcrypt_hash(exact)
    assert p.bcrypt_verify(exact + "X" * 100, hashed_exact)
    assert not p.bcrypt_verify("b" * 71, hashed_exact)


@pytest.mark.parametrize(
    "bad_hash",
    [
        "",
        "$2a$10$short",
        "not a hash at all",
        "$2x$10$" + "a" * 53,
        "$2a$31$" + "a" * 53,
        "$2a$03$" + "a" * 53,
        "$2a$10$" + "é" * 53,
        "$2a$10$" + "!" * 53,
    ],
)
def test_it_rejects_malformed_bcrypt_hashes(bad_hash: str) -> None:
    assert p.bcrypt_verify("anything", bad_hash) is False


def test_it_returns_false_for_non_string_bcrypt_input() -> None:
    hashed = p.bcrypt_hash("pw")
    not_text: Any = None
    assert p.bcrypt_verify(not_text, hashed) is False
    assert p.bcrypt_verify("pw", not_text) is False
    assert p.bcrypt_verify("\ud800", hashed) is False


# --------------------------------------------------------------------------- encrypt-to-profile


def test_it_encrypts_a_value_for_a_profile(keypair: tuple[str, str]) -> None:
    public_pem, private_pem = keypair
    encrypted = p.encrypt_for_profile(public_pem, {"a": [1, "ž"]})
    key = p.unwrap_key(private_pem, encrypted.result_encryption_key)
    assert p.aes_decrypt_json(key, encrypted.ciphertext) == {"a": [1, "ž"]}


def test_it_encrypts_import_results_for_a_profile(keypair: tuple[str, str]) -> None:
    public_pem, private_pem = keypair
    extraction: list[object] = [{"text": "Hemoglobin 142 g/L"}]
    analysis: list[object] = [{"type": "report", "content": {"signals": []}}]
    triple = p.encrypt_results_for_profile(public_pem, extraction, analysis)
    assert set(triple) == {
        "result_encryption_key",
        "encrypted_extraction_result",
        "encrypted_analysis_results",
    }
    key = p.unwrap_key(private_pem, triple["result_encryption_key"])
    assert p.aes_decrypt_json(key, triple["encrypted_extraction_result"]) == extraction
    assert p.aes_decrypt_json(key, triple["encrypted_analysis_results"]) == analysis


def test_it_refuses_to_encrypt_for_a_bad_public_key(keypair: tuple[str, str]) -> None:
    with pytest.raises(CryptoFormatError):
        p.encrypt_results_for_profile(
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", [], []
        )
    with pytest.raises(CryptoFormatError):
        p.encrypt_for_profile(keypair[1], {})
    not_a_list: Any = {"a": 1}
    with pytest.raises(CryptoFormatError):
        p.encrypt_results_for_profile(keypair[0], not_a_list, [])


def test_it_raises_one_error_type_that_is_a_value_error() -> None:
    assert issubclass(CryptoFormatError, ValueError)
