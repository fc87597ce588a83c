"""WebCrypto-compatible crypto primitives, byte-for-byte with the Mediqom client.

Formats (contract §6.1, corrected by §12):

- AES-256-GCM envelope: ``base64(iv[12] ‖ ciphertext ‖ tag[16])``, no AAD.
- AES key: ``base64(raw 32 bytes)`` (44 characters).
- Key wrapping: RSA-OAEP, SHA-256 + MGF1-SHA-256, no label, over the UTF-8 bytes of the
  44-character *base64 text* of the AES key; serialised as ``base64(ciphertext)``.
- PEM: SPKI ``PUBLIC KEY`` / PKCS#8 ``PRIVATE KEY``, body wrapped at 64, ``\\n``, no trailing
  newline.
- Passphrase envelope: PBKDF2-HMAC-SHA-256 (100,000 iterations, 16-byte salt) → AES-256-GCM,
  ``base64(salt[16] ‖ iv[12] ‖ ciphertext ‖ tag[16])``.
- Recovery envelope: HKDF-SHA-256(normalised recovery key) → AES-256-GCM envelope (no salt).
- Passkey PRF key: HKDF-SHA-256(PRF output).
- Recovery key: 25 random bytes → Crockford base32 → 40 characters, 10 groups of 4.
- Passphrase verifier: bcryptjs ``$2a$10$`` hashes (passphrases truncated to 72 bytes).

Base64 is always the standard alphabet; output is padded, input may omit padding (like ``atob``).
Every malformed input raises :class:`CryptoFormatError`, whose message never carries secrets.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import bcrypt
from Crypto.Cipher import AES, PKCS1_OAEP
from Crypto.Hash import SHA256
from Crypto.IO import PKCS8
from Crypto.Protocol.KDF import HKDF, PBKDF2
from Crypto.PublicKey import RSA
from Crypto.Util.asn1 import DerObjectId, DerSequence

__all__ = [
    "AES_KEY_BYTES",
    "PBKDF2_ITERATIONS",
    "RECOVERY_KEY_ALPHABET",
    "CryptoFormatError",
    "EncryptedForProfile",
    "aes_decrypt",
    "aes_decrypt_json",
    "aes_encrypt",
    "aes_encrypt_json",
    "bcrypt_hash",
    "bcrypt_verify",
    "encrypt_for_profile",
    "encrypt_results_for_profile",
    "export_aes_key",
    "generate_aes_key",
    "generate_recovery_key",
    "generate_rsa_keypair",
    "import_aes_key",
    "load_private_key",
    "load_public_key",
    "normalize_recovery_key",
    "passphrase_decrypt",
    "passphrase_encrypt",
    "prf_derive_key",
    "recovery_decrypt",
    "recovery_derive_key",
    "recovery_encrypt",
    "recovery_key_hash",
    "recovery_key_hash_matches",
    "rsa_decrypt",
    "rsa_encrypt",
    "unwrap_key",
    "wrap_key",
]

AES_KEY_BYTES: Final = 32
GCM_IV_BYTES: Final = 12
GCM_TAG_BYTES: Final = 16
PBKDF2_ITERATIONS: Final = 100_000
PBKDF2_SALT_BYTES: Final = 16
RSA_KEY_BITS: Final = 2048
RSA_PUBLIC_EXPONENT: Final = 65537
# Keys the client can hold: 2048 bits today (4096 in later client versions). Smaller keys are
# refused; the upper bound keeps a hostile PEM from costing unbounded CPU.
RSA_MIN_BITS: Final = 2048
RSA_MAX_BITS: Final = 8192

RECOVERY_KEY_ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RECOVERY_KEY_BYTES: Final = 25
RECOVERY_KEY_LENGTH: Final = 40
RECOVERY_KEY_GROUP: Final = 4
RECOVERY_HASH_SUFFIX: Final = "mediqom-recovery-hash-v1"
RECOVERY_HKDF_SALT: Final = b"mediqom-recovery-key-v1"
PRF_HKDF_SALT: Final = b"mediqom-prf-derived-key-v1"
HKDF_INFO: Final = b"private-key-encryption"

BCRYPT_ROUNDS: Final = 10
BCRYPT_MAX_PASSWORD_BYTES: Final = 72
# The client always uses cost 10; refuse absurd costs so a stored hash cannot pin a CPU.
BCRYPT_MAX_ROUNDS: Final = 14

_RSA_ENCRYPTION_OID: Final = "1.2.840.113549.1.1.1"
_PUBLIC_PEM_HEADER: Final = "-----BEGIN PUBLIC KEY-----"
_PUBLIC_PEM_FOOTER: Final = "-----END PUBLIC KEY-----"
_PRIVATE_PEM_HEADER: Final = "-----BEGIN PRIVATE KEY-----"
_PRIVATE_PEM_FOOTER: Final = "-----END PRIVATE KEY-----"
_PEM_LINE: Final = 64
# What pycryptodome's DER/PKCS#8 parsers raise on malformed input (its own errors are ValueErrors).
_DER_ERRORS: Final = (ValueError, TypeError, IndexError, EOFError)

# ``atob`` strips ASCII whitespace (forgiving-base64); PEM bodies are read that way by the client.
_ASCII_WHITESPACE: Final = re.compile(r"[\t\n\f\r ]")
# JavaScript's ``\s``, used by the client's ``key.replace(/[-\s]/g, "")``.
_JS_DASH_OR_SPACE: Final = re.compile(
    "[-\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
)
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_BCRYPT_HASH: Final = re.compile(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")
_B32_TO_CROCKFORD: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", RECOVERY_KEY_ALPHABET)


class CryptoFormatError(ValueError):
    """Malformed or unauthenticated crypto input (bad base64, PEM, envelope, key or tag)."""


@dataclass(frozen=True, slots=True)
class EncryptedForProfile:
    """A JSON value encrypted under a fresh AES key wrapped for one profile's public key."""

    result_encryption_key: str
    ciphertext: str


# --------------------------------------------------------------------------- helpers


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str, what: str) -> bytes:
    """Decode standard base64 strictly; missing padding is accepted like ``atob`` does."""
    if not isinstance(text, str):
        raise CryptoFormatError(f"{what} must be a base64 string")
    if "=" not in text:
        if len(text) % 4 == 1:
            raise CryptoFormatError(f"{what} is not valid base64")
        text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CryptoFormatError(f"{what} is not valid base64") from None


def _utf8(text: str, what: str) -> bytes:
    if not isinstance(text, str):
        raise CryptoFormatError(f"{what} must be a string")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise CryptoFormatError(f"{what} is not valid Unicode text") from None


def _check_aes_key(key: bytes) -> bytes:
    if not isinstance(key, (bytes, bytearray)) or len(key) != AES_KEY_BYTES:
        raise CryptoFormatError("AES key must be 32 bytes")
    return bytes(key)


def _check_bytes(data: bytes, what: str) -> bytes:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CryptoFormatError(f"{what} must be bytes")
    return bytes(data)


def _gcm_seal(key: bytes, plaintext: bytes) -> bytes:
    iv = secrets.token_bytes(GCM_IV_BYTES)
    cipher = AES.new(key, AES.MODE_GCM, nonce=iv, mac_len=GCM_TAG_BYTES)
    ciphertext, tag = cipher.encrypt_and_digest(plaintext)
    return iv + ciphertext + tag


def _gcm_open(key: bytes, sealed: bytes) -> bytes:
    if len(sealed) < GCM_IV_BYTES + GCM_TAG_BYTES:
        raise CryptoFormatError("envelope is too short")
    iv = sealed[:GCM_IV_BYTES]
    ciphertext = sealed[GCM_IV_BYTES:-GCM_TAG_BYTES]
    tag = sealed[-GCM_TAG_BYTES:]
    cipher = AES.new(key, AES.MODE_GCM, nonce=iv, mac_len=GCM_TAG_BYTES)
    try:
        plaintext: bytes = cipher.decrypt_and_verify(ciphertext, tag)
    except ValueError:
        raise CryptoFormatError("envelope failed authentication (wrong key or tampered)") from None
    return plaintext


def _json_stringify(value: object) -> bytes:
    """Serialise like ``JSON.stringify`` (compact, raw non-ASCII) and encode as UTF-8."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        raise CryptoFormatError("value is not JSON-serialisable") from None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        pass
    # Lone surrogates: JS strings are UTF-16, so join valid pairs first, then escape what is
    # left the way the well-formed JSON.stringify does (lower-case \udxxx).
    joined = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    escaped = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", joined)
    return escaped.encode("utf-8")


# --------------------------------------------------------------------------- AES-256-GCM


def generate_aes_key() -> bytes:
    """Return a fresh random 32-byte AES-256 key."""
    return secrets.token_bytes(AES_KEY_BYTES)


def export_aes_key(key: bytes) -> str:
    """Return the raw AES key as base64 text (44 characters), like WebCrypto ``exportKey``."""
    return _b64encode(_check_aes_key(key))


def import_aes_key(b64: str) -> bytes:
    """Return the raw 32-byte AES key from its base64 text."""
    return _check_aes_key(_b64decode(b64, "AES key"))


def aes_encrypt(key: bytes, plaintext: bytes) -> str:
    """Encrypt with AES-256-GCM; return ``base64(iv ‖ ciphertext ‖ tag)``."""
    return _b64encode(_gcm_seal(_check_aes_key(key), _check_bytes(plaintext, "plaintext")))


def aes_decrypt(key: bytes, envelope: str) -> bytes:
    """Decrypt and authenticate an AES-256-GCM envelope ``base64(iv ‖ ciphertext ‖ tag)``."""
    key = _check_aes_key(key)
    return _gcm_open(key, _b64decode(envelope, "envelope"))


def aes_encrypt_json(key: bytes, obj: object) -> str:
    """Encrypt ``JSON.stringify(obj)`` (UTF-8) as an AES-256-GCM envelope."""
    return aes_encrypt(key, _json_stringify(obj))


def aes_decrypt_json(key: bytes, envelope: str) -> object:
    """Decrypt an AES-256-GCM envelope and parse its UTF-8 JSON plaintext."""
    plaintext = aes_decrypt(key, envelope)
    try:
        return json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CryptoFormatError("decrypted plaintext is not UTF-8 JSON") from None


# --------------------------------------------------------------------------- RSA / PEM


def _pem_body(pem: str, header: str, footer: str, what: str) -> bytes:
    if not isinstance(pem, str):
        raise CryptoFormatError(f"{what} PEM must be a string")
    text = pem.strip(" \t\n\f\r")
    if not (text.startswith(header) and text.endswith(footer)):
        raise CryptoFormatError(f"{what} PEM must be framed by {header} ... {footer}")
    body = _ASCII_WHITESPACE.sub("", text[len(header) : len(text) - len(footer)])
    if not body:
        raise CryptoFormatError(f"{what} PEM body is empty")
    return _b64decode(body, f"{what} PEM body")


def _check_rsa_size(key: RSA.RsaKey) -> RSA.RsaKey:
    if not RSA_MIN_BITS <= key.size_in_bits() <= RSA_MAX_BITS:
        raise CryptoFormatError("RSA key size is not supported")
    return key


def load_public_key(public_pem: str) -> RSA.RsaKey:
    """Parse an SPKI ``PUBLIC KEY`` PEM the way the client does; PKCS#1 is rejected."""
    der = _pem_body(public_pem, _PUBLIC_PEM_HEADER, _PUBLIC_PEM_FOOTER, "public key")
    try:
        # SubjectPublicKeyInfo ::= SEQUENCE { AlgorithmIdentifier, BIT STRING }
        spki = DerSequence().decode(der, nr_elements=2)
        algorithm = DerSequence().decode(spki[0], nr_elements=(1, 2))
        oid = DerObjectId().decode(algorithm[0]).value
    except _DER_ERRORS:
        raise CryptoFormatError("public key is not an SPKI structure") from None
    if oid != _RSA_ENCRYPTION_OID:
        raise CryptoFormatError("public key is not an RSA key")
    try:
        key = RSA.import_key(der)
    except _DER_ERRORS:
        raise CryptoFormatError("public key is not a valid RSA key") from None
    if key.has_private():
        raise CryptoFormatError("public key PEM holds a private key")
    return _check_rsa_size(key)


def load_private_key(private_pem: str) -> RSA.RsaKey:
    """Parse a PKCS#8 ``PRIVATE KEY`` PEM the way the client does; PKCS#1 is rejected."""
    der = _pem_body(private_pem, _PRIVATE_PEM_HEADER, _PRIVATE_PEM_FOOTER, "private key")
    try:
        unwrapped = PKCS8.unwrap(der)
    except _DER_ERRORS:
        raise CryptoFormatError("private key is not an unencrypted PKCS#8 structure") from None
    if unwrapped.oid != _RSA_ENCRYPTION_OID:
        raise CryptoFormatError("private key is not an RSA key")
    try:
        key = RSA.import_key(der)
    except _DER_ERRORS:
        raise CryptoFormatError("private key is not a valid RSA key") from None
    if not key.has_private():
        raise CryptoFormatError("private key PEM holds no private key")
    return _check_rsa_size(key)


def _to_pem(der: bytes, header: str, footer: str) -> str:
    body = _b64encode(der)
    lines = [body[i : i + _PEM_LINE] for i in range(0, len(body), _PEM_LINE)]
    return "\n".join([header, *lines, footer])


def generate_rsa_keypair() -> tuple[str, str]:
    """Return a fresh RSA-2048 (e=65537) pair as the client's (SPKI PEM, PKCS#8 PEM)."""
    key = RSA.generate(RSA_KEY_BITS, e=RSA_PUBLIC_EXPONENT)
    public_der = key.public_key().export_key(format="DER")
    private_der = key.export_key(format="DER", pkcs=8)
    return (
        _to_pem(public_der, _PUBLIC_PEM_HEADER, _PUBLIC_PEM_FOOTER),
        _to_pem(private_der, _PRIVATE_PEM_HEADER, _PRIVATE_PEM_FOOTER),
    )


def _oaep(key: RSA.RsaKey) -> PKCS1_OAEP.PKCS1OAEP_Cipher:
    # MGF1 defaults to the OAEP hash (SHA-256), label defaults to empty: WebCrypto RSA-OAEP.
    return PKCS1_OAEP.new(key, hashAlgo=SHA256)


def rsa_encrypt(public_pem: str, data: bytes) -> str:
    """RSA-OAEP-SHA-256 encrypt raw bytes to a PEM public key; return base64 ciphertext."""
    cipher = _oaep(load_public_key(public_pem))
    try:
        ciphertext = cipher.encrypt(_check_bytes(data, "plaintext"))
    except ValueError:
        raise CryptoFormatError("plaintext is too long for RSA-OAEP") from None
    return _b64encode(ciphertext)


def rsa_decrypt(private_pem: str, ciphertext: str) -> bytes:
    """RSA-OAEP-SHA-256 decrypt base64 ciphertext with a PEM private key."""
    key = load_private_key(private_pem)
    raw = _b64decode(ciphertext, "RSA ciphertext")
    try:
        plaintext: bytes = _oaep(key).decrypt(raw)
    except (ValueError, TypeError):
        raise CryptoFormatError("RSA ciphertext does not decrypt with this private key") from None
    return plaintext


def wrap_key(public_pem: str, aes_key: bytes) -> str:
    """Wrap an AES key for a profile: RSA-OAEP over the UTF-8 of its base64 text."""
    return rsa_encrypt(public_pem, export_aes_key(aes_key).encode("ascii"))


def unwrap_key(private_pem: str, wrapped: str) -> bytes:
    """Unwrap a key made by :func:`wrap_key` (or the client); return the raw 32-byte key."""
    text = rsa_decrypt(private_pem, wrapped)
    try:
        key_b64 = text.decode("ascii")
    except UnicodeDecodeError:
        raise CryptoFormatError("wrapped key is not base64 text of an AES key") from None
    try:
        return import_aes_key(key_b64)
    except CryptoFormatError:
        raise CryptoFormatError("wrapped key is not base64 text of an AES key") from None


# --------------------------------------------------------------------------- passphrase (PBKDF2)


def _pbkdf2_key(passphrase: str, salt: bytes) -> bytes:
    return PBKDF2(
        _utf8(passphrase, "passphrase"),
        salt,
        dkLen=AES_KEY_BYTES,
        count=PBKDF2_ITERATIONS,
        hmac_hash_module=SHA256,
    )


def passphrase_encrypt(passphrase: str, plaintext: bytes) -> str:
    """Encrypt under PBKDF2-SHA-256(100k)→AES-GCM; return ``base64(salt ‖ iv ‖ ct ‖ tag)``."""
    plaintext = _check_bytes(plaintext, "plaintext")
    salt = secrets.token_bytes(PBKDF2_SALT_BYTES)
    return _b64encode(salt + _gcm_seal(_pbkdf2_key(passphrase, salt), plaintext))


def passphrase_decrypt(passphrase: str, envelope: str) -> bytes:
    """Decrypt a passphrase envelope ``base64(salt[16] ‖ iv[12] ‖ ciphertext ‖ tag[16])``."""
    raw = _b64decode(envelope, "envelope")
    if len(raw) < PBKDF2_SALT_BYTES + GCM_IV_BYTES + GCM_TAG_BYTES:
        raise CryptoFormatError("envelope is too short")
    key = _pbkdf2_key(passphrase, raw[:PBKDF2_SALT_BYTES])
    return _gcm_open(key, raw[PBKDF2_SALT_BYTES:])


# --------------------------------------------------------------------------- HKDF (recovery, PRF)


def _hkdf(ikm: bytes, salt: bytes) -> bytes:
    derived = HKDF(ikm, AES_KEY_BYTES, salt, SHA256, context=HKDF_INFO)
    if not isinstance(derived, bytes):  # only a list when num_keys > 1
        raise TypeError("HKDF returned several keys")
    return derived


def prf_derive_key(prf_output: bytes) -> bytes:
    """Derive the passkey AES-256 key: HKDF-SHA-256 over the WebAuthn PRF output."""
    ikm = _check_bytes(prf_output, "PRF output")
    if not ikm:
        raise CryptoFormatError("PRF output is empty")
    return _hkdf(ikm, PRF_HKDF_SALT)


def recovery_derive_key(recovery_key: str) -> bytes:
    """Derive the recovery AES-256 key: HKDF-SHA-256 over the UTF-8 normalised recovery key."""
    return _hkdf(normalize_recovery_key(recovery_key).encode("ascii"), RECOVERY_HKDF_SALT)


def recovery_encrypt(recovery_key: str, plaintext: bytes) -> str:
    """Encrypt under HKDF(recovery key)→AES-GCM; return ``base64(iv ‖ ciphertext ‖ tag)``."""
    return aes_encrypt(recovery_derive_key(recovery_key), plaintext)


def recovery_decrypt(recovery_key: str, envelope: str) -> bytes:
    """Decrypt a recovery envelope (``recovery_encrypted_key``) with the recovery key."""
    return aes_decrypt(recovery_derive_key(recovery_key), envelope)


# --------------------------------------------------------------------------- recovery key


def generate_recovery_key() -> str:
    """Return a new recovery key in display form: 40 Crockford base32 chars, 10 groups of 4."""
    # RFC 4648 base32 packs bits MSB-first exactly like the client's loop; 25 bytes = 40 chars.
    text = base64.b32encode(secrets.token_bytes(RECOVERY_KEY_BYTES)).decode("ascii")
    text = text.translate(_B32_TO_CROCKFORD)
    groups = [text[i : i + RECOVERY_KEY_GROUP] for i in range(0, len(text), RECOVERY_KEY_GROUP)]
    return "-".join(groups)


def normalize_recovery_key(key: str) -> str:
    """Strip dashes/whitespace and upper-case; raise unless 40 Crockford base32 characters."""
    if not isinstance(key, str):
        raise CryptoFormatError("recovery key must be a string")
    normalised = _JS_DASH_OR_SPACE.sub("", key).upper()
    if len(normalised) != RECOVERY_KEY_LENGTH or any(
        ch not in RECOVERY_KEY_ALPHABET for ch in normalised
    ):
        raise CryptoFormatError("recovery key must be 40 Crockford base32 characters")
    return normalised


def recovery_key_hash(key: str) -> str:
    """Return ``base64(SHA-256(normalised key ‖ "mediqom-recovery-hash-v1"))``."""
    data = (normalize_recovery_key(key) + RECOVERY_HASH_SUFFIX).encode("ascii")
    return _b64encode(SHA256.new(data).digest())


def recovery_key_hash_matches(key: str, stored_hash: str) -> bool:
    """Compare a recovery key with its stored hash in constant time; malformed input is False."""
    try:
        computed = recovery_key_hash(key)
    except CryptoFormatError:
        return False
    if not isinstance(stored_hash, str):
        return False
    return hmac.compare_digest(computed.encode("ascii"), stored_hash.encode("utf-8", "replace"))


# --------------------------------------------------------------------------- bcrypt (bcryptjs)


def _bcrypt_password(passphrase: str) -> bytes:
    # bcryptjs silently uses only the first 72 UTF-8 bytes; bcrypt>=5 raises instead.
    return _utf8(passphrase, "passphrase")[:BCRYPT_MAX_PASSWORD_BYTES]


def bcrypt_hash(passphrase: str) -> str:
    """Return a bcryptjs-style ``$2a$10$…`` hash of the passphrase."""
    salt = bcrypt.gensalt(rounds=BCRYPT_ROUNDS, prefix=b"2a")
    return bcrypt.hashpw(_bcrypt_password(passphrase), salt).decode("ascii")


def bcrypt_verify(passphrase: str, key_hash: str) -> bool:
    """Check a passphrase against a bcryptjs hash; malformed input gives False."""
    if not isinstance(key_hash, str):
        return False
    match = _BCRYPT_HASH.fullmatch(key_hash)
    if match is None or not 4 <= int(match.group(1)) <= BCRYPT_MAX_ROUNDS:
        return False
    try:
        return bcrypt.checkpw(_bcrypt_password(passphrase), key_hash.encode("ascii"))
    except (CryptoFormatError, ValueError):
        return False


# --------------------------------------------------------------------------- encrypt-to-profile


def encrypt_for_profile(public_pem: str, obj: object) -> EncryptedForProfile:
    """Encrypt ``JSON.stringify(obj)`` under a fresh AES key wrapped to ``public_pem``."""
    key = generate_aes_key()
    wrapped = wrap_key(public_pem, key)
    return EncryptedForProfile(result_encryption_key=wrapped, ciphertext=aes_encrypt_json(key, obj))


def encrypt_results_for_profile(
    public_pem: str, extraction: Sequence[object], analysis: Sequence[object]
) -> dict[str, str]:
    """Return the import-job triple the client's ``decryptJobResults`` decrypts (contract §6.5)."""
    if not isinstance(extraction, (list, tuple)) or not isinstance(analysis, (list, tuple)):
        raise CryptoFormatError("extraction and analysis results must be JSON arrays")
    key = generate_aes_key()
    return {
        "result_encryption_key": wrap_key(public_pem, key),
        "encrypted_extraction_result": aes_encrypt_json(key, extraction),
        "encrypted_analysis_results": aes_encrypt_json(key, analysis),
    }
