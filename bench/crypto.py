"""Benchmark: crypto_app.primitives (pycryptodome) vs the same operations on ``cryptography``.

Run: ``.venv/bin/python bench/crypto.py`` (about 30-40 s on 2 cores). Not part of the test run.

Each row times one server operation with our implementation and with an equivalent one built on
``cryptography`` (OpenSSL), after a warm-up; every row is repeated several times and the median is
reported. Both sides produce the same wire formats (checked before timing).
"""

from __future__ import annotations

import base64
import os
import platform
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from Crypto.Cipher import PKCS1_OAEP
from Crypto.Hash import SHA256
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from crypto_app import primitives as ours

REPEATS = 5
BATCH_SECONDS = 0.15
WARMUP_SECONDS = 0.05

OAEP = padding.OAEP(
    mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
)


# --------------------------------------------------------------------------- peer (cryptography)


def peer_aes_encrypt(key: bytes, plaintext: bytes) -> str:
    iv = os.urandom(12)
    return base64.b64encode(iv + AESGCM(key).encrypt(iv, plaintext, None)).decode("ascii")


def peer_aes_decrypt(key: bytes, envelope: str) -> bytes:
    raw = base64.b64decode(envelope, validate=True)
    return AESGCM(key).decrypt(raw[:12], raw[12:], None)


def peer_wrap_key(public_pem: str, aes_key: bytes) -> str:
    public = serialization.load_pem_public_key(public_pem.encode("ascii"))
    assert isinstance(public, rsa.RSAPublicKey)
    text = base64.b64encode(aes_key)
    return base64.b64encode(public.encrypt(text, OAEP)).decode("ascii")


def peer_unwrap_key(private_pem: str, wrapped: str) -> bytes:
    private = serialization.load_pem_private_key(private_pem.encode("ascii"), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    return base64.b64decode(private.decrypt(base64.b64decode(wrapped), OAEP), validate=True)


def peer_pbkdf2(passphrase: str, salt: bytes) -> bytes:
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=100_000)
    return kdf.derive(passphrase.encode("utf-8"))


def ours_gcm_roundtrip(key: bytes, plaintext: bytes) -> bytes:
    return ours._gcm_open(key, ours._gcm_seal(key, plaintext))


def peer_gcm_roundtrip(key: bytes, plaintext: bytes) -> bytes:
    iv = os.urandom(12)
    aead = AESGCM(key)
    return aead.decrypt(iv, aead.encrypt(iv, plaintext, None), None)


# --------------------------------------------------------------------------- timing


@dataclass(frozen=True)
class Row:
    name: str
    ours_s: float
    peer_s: float
    payload: int = 0  # bytes processed per op (for MB/s), 0 when not meaningful


def per_op_seconds(fn: Callable[[], object]) -> float:
    """Median seconds per call over REPEATS batches sized to ~BATCH_SECONDS each."""
    deadline = time.perf_counter() + WARMUP_SECONDS
    calls = 0
    while time.perf_counter() < deadline or calls < 2:
        fn()
        calls += 1
    start = time.perf_counter()
    fn()
    single = max(time.perf_counter() - start, 1e-7)
    batch = max(1, int(BATCH_SECONDS / single))
    samples = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        samples.append((time.perf_counter() - start) / batch)
    return statistics.median(samples)


def compare(
    name: str, ours_fn: Callable[[], object], peer_fn: Callable[[], object], payload: int = 0
) -> Row:
    row = Row(name, per_op_seconds(ours_fn), per_op_seconds(peer_fn), payload)
    print(f"  measured: {name}", file=sys.stderr, flush=True)
    return row


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, pycryptodome {version('pycryptodome')}, "
        f"cryptography {version('cryptography')}"
    )


def fmt_rate(seconds: float, payload: int) -> str:
    ops = 1.0 / seconds
    text = f"{ops:,.0f}" if ops >= 100 else f"{ops:,.1f}"
    if payload:
        text += f" ({payload / seconds / 1e6:,.0f} MB/s)"
    return text


def main() -> None:
    started = time.perf_counter()
    key = ours.generate_aes_key()
    kib, mib = secrets.token_bytes(1024), secrets.token_bytes(1024 * 1024)
    public_pem, private_pem = ours.generate_rsa_keypair()
    public_key, private_key = ours.load_public_key(public_pem), ours.load_private_key(private_pem)
    peer_public = serialization.load_pem_public_key(public_pem.encode())
    peer_private = serialization.load_pem_private_key(private_pem.encode(), password=None)
    assert isinstance(peer_public, rsa.RSAPublicKey)
    assert isinstance(peer_private, rsa.RSAPrivateKey)
    salt = secrets.token_bytes(16)

    # Same formats on both sides: each decrypts what the other wrote.
    assert peer_aes_decrypt(key, ours.aes_encrypt(key, kib)) == kib
    assert ours.aes_decrypt(key, peer_aes_encrypt(key, kib)) == kib
    assert peer_unwrap_key(private_pem, ours.wrap_key(public_pem, key)) == key
    assert ours.unwrap_key(private_pem, peer_wrap_key(public_pem, key)) == key
    assert ours._pbkdf2_key("pw", salt) == peer_pbkdf2("pw", salt)
    assert ours_gcm_roundtrip(key, kib) == peer_gcm_roundtrip(key, kib) == kib

    key_text = ours.export_aes_key(key).encode()
    ours_oaep_pub = PKCS1_OAEP.new(public_key, hashAlgo=SHA256)
    ours_oaep_priv = PKCS1_OAEP.new(private_key, hashAlgo=SHA256)
    wrapped_raw = ours_oaep_pub.encrypt(key_text)
    wrapped_b64 = ours.wrap_key(public_pem, key)
    env_kib_ours, env_kib_peer = ours.aes_encrypt(key, kib), peer_aes_encrypt(key, kib)
    env_mib_ours, env_mib_peer = ours.aes_encrypt(key, mib), peer_aes_encrypt(key, mib)

    rows = [
        compare(
            "AES-256-GCM envelope encrypt+decrypt, 1 KiB",
            lambda: ours.aes_decrypt(key, ours.aes_encrypt(key, kib)),
            lambda: peer_aes_decrypt(key, peer_aes_encrypt(key, kib)),
            1024,
        ),
        compare(
            "AES-256-GCM envelope encrypt+decrypt, 1 MiB",
            lambda: ours.aes_decrypt(key, ours.aes_encrypt(key, mib)),
            lambda: peer_aes_decrypt(key, peer_aes_encrypt(key, mib)),
            1024 * 1024,
        ),
        compare(
            "AES-256-GCM envelope decrypt only, 1 KiB",
            lambda: ours.aes_decrypt(key, env_kib_ours),
            lambda: peer_aes_decrypt(key, env_kib_peer),
            1024,
        ),
        compare(
            "AES-256-GCM envelope decrypt only, 1 MiB",
            lambda: ours.aes_decrypt(key, env_mib_ours),
            lambda: peer_aes_decrypt(key, env_mib_peer),
            1024 * 1024,
        ),
        compare(
            "AES-256-GCM cipher only (no base64) enc+dec, 1 KiB",
            lambda: ours_gcm_roundtrip(key, kib),
            lambda: peer_gcm_roundtrip(key, kib),
            1024,
        ),
        compare(
            "AES-256-GCM cipher only (no base64) enc+dec, 1 MiB",
            lambda: ours_gcm_roundtrip(key, mib),
            lambda: peer_gcm_roundtrip(key, mib),
            1024 * 1024,
        ),
        compare(
            "RSA-2048 OAEP-SHA-256 wrap (key object loaded)",
            lambda: ours_oaep_pub.encrypt(key_text),
            lambda: peer_public.encrypt(key_text, OAEP),
        ),
        compare(
            "RSA-2048 OAEP-SHA-256 unwrap (key object loaded)",
            lambda: ours_oaep_priv.decrypt(wrapped_raw),
            lambda: peer_private.decrypt(wrapped_raw, OAEP),
        ),
        compare(
            "wrap_key from public PEM (parse + wrap)",
            lambda: ours.wrap_key(public_pem, key),
            lambda: peer_wrap_key(public_pem, key),
        ),
        compare(
            "unwrap_key from private PEM (parse + unwrap)",
            lambda: ours.unwrap_key(private_pem, wrapped_b64),
            lambda: peer_unwrap_key(private_pem, wrapped_b64),
        ),
        compare(
            "PBKDF2-HMAC-SHA-256, 100,000 iterations",
            lambda: ours._pbkdf2_key("correct horse", salt),
            lambda: peer_pbkdf2("correct horse", salt),
        ),
    ]

    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"Measured {now} on: {machine()}")
    print(f"Median of {REPEATS} batches of ~{BATCH_SECONDS}s each, after warm-up; 1 thread.\n")
    print(
        "| operation | ours: pycryptodome (ops/s) | peer: cryptography (ops/s) | ratio ours/peer |"
    )
    print("|---|---:|---:|---:|")
    for row in rows:
        ratio = row.peer_s / row.ours_s  # throughput ratio: ours ops/s over peer ops/s
        print(
            f"| {row.name} | {fmt_rate(row.ours_s, row.payload)} | "
            f"{fmt_rate(row.peer_s, row.payload)} | {ratio:.2f} |"
        )
    print(f"\nTotal benchmark time: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
