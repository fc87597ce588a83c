"""crypto_app.primitives against real WebCrypto (Node's ``crypto.subtle``) and bcryptjs.

Part (a) reads the committed fixtures made by ``node scripts/webcrypto_vectors.mjs``. Part (b)
runs that script once in ``--interop`` mode: Node decrypts what Python encrypted, with the
client's own algorithms, and encrypts fresh values that Python then decrypts. Part (c) runs
bcryptjs 2.4.3 live (``scripts/node/``, installed by ``scripts/node-deps.sh``): each library
checks the other's hashes, and both answer alike for every candidate (72-byte truncation
included). Node is required, never skipped: ``scripts/system-deps.sh`` installs it.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from crypto_app import primitives as p
from crypto_app.primitives import CryptoFormatError

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "webcrypto"
SCRIPT = ROOT / "scripts" / "webcrypto_vectors.mjs"

SAMPLE_VALUE: dict[str, Any] = {
    "title": "Krevní obraz — Blood count 血液",
    "values": [{"code": "HGB", "value": 142, "unit": "g/L"}, {"code": "WBC", "value": 6.4}],
    "notes": 'Quote " backslash \\ newline\n tab\t ctrl\u0001 emoji 😀 line-sep\u2028 lone\ud800',
    "flags": [True, False, None],
    "negative": -17,
}
PASSPHRASE = "heslo s diakritikou ěščřžýáíé ✓ 🔑"


def node_binary() -> str:
    node = shutil.which("node")
    assert node is not None, "Node.js is required: scripts/system-deps.sh installs it (nodejs)"
    return node


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text("utf-8"))
    return data


@pytest.fixture(scope="module")
def vectors() -> dict[str, Any]:
    return _load("vectors.json")


# --------------------------------------------------------------------------- (a) committed fixtures


def test_it_decrypts_a_webcrypto_aes_envelope(vectors: dict[str, Any]) -> None:
    case = vectors["aes_gcm"]
    key = p.import_aes_key(case["key"])
    assert p.export_aes_key(key) == case["key"]
    assert p.aes_decrypt(key, case["envelope"]) == case["plaintext"].encode("utf-8")
    assert p.aes_decrypt_json(key, case["envelope"]) == case["value"]
    assert p.aes_decrypt(key, case["empty_envelope"]) == b""


def test_it_serialises_json_byte_for_byte_like_json_stringify(vectors: dict[str, Any]) -> None:
    case = vectors["aes_gcm"]
    key = p.import_aes_key(case["key"])
    ours = p.aes_decrypt(key, p.aes_encrypt_json(key, case["value"]))
    assert ours == case["plaintext"].encode("utf-8")


def test_it_rejects_a_tampered_webcrypto_envelope(vectors: dict[str, Any]) -> None:
    case = vectors["aes_gcm"]
    raw = bytearray(base64.b64decode(case["envelope"]))
    raw[20] ^= 0x80
    with pytest.raises(CryptoFormatError):
        p.aes_decrypt(p.import_aes_key(case["key"]), base64.b64encode(bytes(raw)).decode())


def test_it_reads_webcrypto_pems_written_like_ours(vectors: dict[str, Any]) -> None:
    case = vectors["rsa"]
    public = p.load_public_key(case["public_pem"])
    private = p.load_private_key(case["private_pem"])
    assert private.public_key() == public
    assert public.size_in_bits() == 2048
    ours_public, ours_private = p.generate_rsa_keypair()
    for theirs, ours in ((case["public_pem"], ours_public), (case["private_pem"], ours_private)):
        for pem in (theirs, ours):
            body = pem.split("\n")[1:-1]
            assert all(len(line) == 64 for line in body[:-1])
            assert 0 < len(body[-1]) <= 64
            assert not pem.endswith("\n")
        assert theirs.split("\n")[0] == ours.split("\n")[0]
        assert theirs.split("\n")[-1] == ours.split("\n")[-1]


def test_it_unwraps_a_webcrypto_wrapped_document_key(vectors: dict[str, Any]) -> None:
    case = vectors["rsa"]
    key = p.unwrap_key(case["private_pem"], case["wrapped_key"])
    assert key == base64.b64decode(case["aes_key"])
    assert p.aes_decrypt_json(key, case["content_envelope"]) == case["content"]


def test_it_decrypts_a_webcrypto_passphrase_envelope(vectors: dict[str, Any]) -> None:
    case = vectors["passphrase"]
    assert case["iterations"] == p.PBKDF2_ITERATIONS
    plaintext = p.passphrase_decrypt(case["passphrase"], case["envelope"])
    assert plaintext == case["plaintext"].encode("utf-8")
    with pytest.raises(CryptoFormatError):
        p.passphrase_decrypt(case["passphrase"] + " ", case["envelope"])


def test_it_matches_the_webcrypto_recovery_key_and_hash(vectors: dict[str, Any]) -> None:
    case = vectors["recovery"]
    assert p.normalize_recovery_key(case["recovery_key"]) == case["normalised"]
    assert len(case["recovery_key"]) == 49
    assert p.recovery_key_hash(case["recovery_key"]) == case["hash"]
    assert p.recovery_key_hash_matches(case["recovery_key"].lower(), case["hash"])
    assert p.recovery_derive_key(case["recovery_key"]) == base64.b64decode(case["derived_key"])
    plaintext = p.recovery_decrypt(case["recovery_key"], case["envelope"])
    assert plaintext == case["plaintext"].encode("utf-8")


def test_it_decrypts_a_webcrypto_prf_envelope(vectors: dict[str, Any]) -> None:
    case = vectors["prf"]
    key = p.prf_derive_key(base64.b64decode(case["prf_output"]))
    assert key == base64.b64decode(case["derived_key"])
    assert p.aes_decrypt(key, case["envelope"]) == case["plaintext"].encode("utf-8")


def test_it_decrypts_webcrypto_import_results(vectors: dict[str, Any]) -> None:
    case = vectors["import_results"]
    key = p.unwrap_key(vectors["rsa"]["private_pem"], case["result_encryption_key"])
    assert p.aes_decrypt_json(key, case["encrypted_extraction_result"]) == case["extraction"]
    assert p.aes_decrypt_json(key, case["encrypted_analysis_results"]) == case["analysis"]


# --------------------------------------------------------------------------- (b) live WebCrypto


@pytest.fixture(scope="module")
def live() -> dict[str, Any]:
    """Run Node once: it decrypts Python's values and returns fresh WebCrypto ones."""
    node = node_binary()
    public_pem, private_pem = p.generate_rsa_keypair()
    aes_key = p.generate_aes_key()
    wrapped_key = p.generate_aes_key()
    recovery_key = p.generate_recovery_key()
    prf_output = p.generate_aes_key()  # 32 random bytes stand in for a PRF output
    aes_envelope = p.aes_encrypt_json(aes_key, SAMPLE_VALUE)
    tampered = bytearray(base64.b64decode(aes_envelope))
    tampered[-1] ^= 0x01
    extraction: list[object] = [{"fileName": "scan.jpg", "text": "Glukóza 5,1 mmol/l"}]
    analysis: list[object] = [{"type": "report", "content": {"signals": [{"value": 5.1}]}}]
    request = {
        "public_pem": public_pem,
        "private_pem": private_pem,
        "aes": {"key": p.export_aes_key(aes_key), "envelope": aes_envelope, "value": SAMPLE_VALUE},
        "tampered_aes_envelope": base64.b64encode(bytes(tampered)).decode(),
        "wrapped_key": p.wrap_key(public_pem, wrapped_key),
        "passphrase": {
            "passphrase": PASSPHRASE,
            "envelope": p.passphrase_encrypt(PASSPHRASE, private_pem.encode()),
        },
        "recovery": {
            "recovery_key": recovery_key,
            "envelope": p.recovery_encrypt(recovery_key, private_pem.encode()),
        },
        "prf": {
            "prf_output": base64.b64encode(prf_output).decode(),
            "envelope": p.aes_encrypt(p.prf_derive_key(prf_output), private_pem.encode()),
        },
        "results": p.encrypt_results_for_profile(public_pem, extraction, analysis),
    }
    completed = subprocess.run(
        [node, str(SCRIPT), "--interop"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    response: dict[str, Any] = json.loads(completed.stdout)
    return {
        "request": request,
        "response": response,
        "aes_key": aes_key,
        "wrapped_key": wrapped_key,
        "private_pem": private_pem,
        "public_pem": public_pem,
        "recovery_key": recovery_key,
        "extraction": extraction,
        "analysis": analysis,
    }


def _ok(result: dict[str, Any]) -> Any:
    assert result["ok"], result.get("error")
    return result["value"]


def test_webcrypto_reexports_our_pems_identically(live: dict[str, Any]) -> None:
    decrypted = live["response"]["decrypted"]
    assert _ok(decrypted["reexported_public_pem"]) == live["public_pem"]
    assert _ok(decrypted["reexported_private_pem"]) == live["private_pem"]


def test_webcrypto_decrypts_our_aes_envelope(live: dict[str, Any]) -> None:
    decrypted = live["response"]["decrypted"]
    plaintext = _ok(decrypted["aes"])
    assert json.loads(plaintext) == SAMPLE_VALUE
    # Our JSON text is exactly what JSON.stringify writes for the same value.
    assert plaintext == decrypted["aes_json_stringify"]
    assert decrypted["tampered_aes"]["ok"] is False


def test_webcrypto_unwraps_our_wrapped_key(live: dict[str, Any]) -> None:
    unwrapped = _ok(live["response"]["decrypted"]["wrapped_key"])
    assert unwrapped == p.export_aes_key(live["wrapped_key"])


def test_webcrypto_decrypts_our_passphrase_envelope(live: dict[str, Any]) -> None:
    assert _ok(live["response"]["decrypted"]["passphrase"]) == live["private_pem"]


def test_webcrypto_decrypts_our_recovery_envelope_and_agrees_on_the_hash(
    live: dict[str, Any],
) -> None:
    decrypted = live["response"]["decrypted"]
    assert decrypted["recovery_valid"] is True
    assert _ok(decrypted["recovery"]) == live["private_pem"]
    assert decrypted["recovery_hash"] == p.recovery_key_hash(live["recovery_key"])


def test_webcrypto_decrypts_our_prf_envelope(live: dict[str, Any]) -> None:
    assert _ok(live["response"]["decrypted"]["prf"]) == live["private_pem"]


def test_webcrypto_decrypts_our_import_results_like_the_finaliser(live: dict[str, Any]) -> None:
    results = _ok(live["response"]["decrypted"]["results"])
    assert results == {"extraction": live["extraction"], "analysis": live["analysis"]}


def test_python_reads_fresh_webcrypto_keys_and_envelopes(live: dict[str, Any]) -> None:
    fresh = live["response"]["fresh"]
    assert p.load_public_key(fresh["public_pem"]).size_in_bits() == 2048
    aes_key = p.import_aes_key(fresh["aes"]["key"])
    assert p.aes_decrypt(aes_key, fresh["aes"]["envelope"]) == fresh["aes"]["plaintext"].encode()
    node_wrapped = fresh["wrapped_to_node"]
    assert p.unwrap_key(fresh["private_pem"], node_wrapped["wrapped"]) == aes_key
    assert p.export_aes_key(aes_key) == node_wrapped["aes_key"]
    to_python = fresh["wrapped_to_python"]
    unwrapped = p.unwrap_key(live["private_pem"], to_python["wrapped"])
    assert p.export_aes_key(unwrapped) == to_python["aes_key"]
    # Python wraps for the Node key too, and the result unwraps with Node's private PEM.
    assert p.unwrap_key(fresh["private_pem"], p.wrap_key(fresh["public_pem"], aes_key)) == aes_key


def test_python_decrypts_fresh_webcrypto_passphrase_recovery_and_prf(live: dict[str, Any]) -> None:
    fresh = live["response"]["fresh"]
    passphrase = fresh["passphrase"]
    plaintext = p.passphrase_decrypt(passphrase["passphrase"], passphrase["envelope"])
    assert plaintext == passphrase["plaintext"].encode()
    recovery = fresh["recovery"]
    assert p.recovery_key_hash(recovery["recovery_key"]) == recovery["hash"]
    assert p.recovery_key_hash_matches(recovery["recovery_key"], recovery["hash"])
    plaintext = p.recovery_decrypt(recovery["recovery_key"], recovery["envelope"])
    assert plaintext == recovery["plaintext"].encode()
    prf = fresh["prf"]
    key = p.prf_derive_key(base64.b64decode(prf["prf_output"]))
    assert p.aes_decrypt(key, prf["envelope"]) == prf["plaintext"].encode()


def test_python_decrypts_fresh_webcrypto_import_results(live: dict[str, Any]) -> None:
    results = live["response"]["fresh"]["results"]
    key = p.unwrap_key(live["private_pem"], results["result_encryption_key"])
    assert p.aes_decrypt_json(key, results["encrypted_extraction_result"]) == results["extraction"]
    assert p.aes_decrypt_json(key, results["encrypted_analysis_results"]) == results["analysis"]


# --------------------------------------------------------------------------- (c) live bcryptjs

BCRYPTJS = ROOT / "scripts" / "node" / "bcrypt_interop.cjs"
BCRYPT_CASES = {
    "unicode": "correct horse ✓ baterie ščřž 🐴",
    "empty": "",
    "exactly_72_bytes": "b" * 72,
    "long_multibyte_straddles_72": "a" * 71 + "é" + " tail beyond 72 bytes",
}
# Other candidates tried against each case's hashes (besides the passphrase and passphrase + x).
BCRYPT_CANDIDATES = {
    "exactly_72_bytes": ["b" * 72 + "X", "b" * 71],
    "long_multibyte_straddles_72": ["a" * 71 + "é" + " a different tail", "a" * 71],
}


@pytest.fixture(scope="module")
def bcryptjs_live() -> dict[str, Any]:
    """One Node run: bcryptjs hashes every case and checks every candidate against both its
    own hash and the one Python made."""
    node = node_binary()
    assert (ROOT / "scripts" / "node" / "node_modules" / "bcryptjs").is_dir(), (
        "bcryptjs is not installed: run scripts/node-deps.sh (scripts/test.sh does)"
    )
    names = list(BCRYPT_CASES)
    python_made = {name: p.bcrypt_hash(BCRYPT_CASES[name]) for name in names}
    candidates = {
        name: [BCRYPT_CASES[name], BCRYPT_CASES[name] + "x", *BCRYPT_CANDIDATES.get(name, [])]
        for name in names
    }
    completed = subprocess.run(
        [node, str(BCRYPTJS)],
        input=json.dumps(
            {
                "hash": [BCRYPT_CASES[name] for name in names],
                "compare": [
                    [candidate, python_made[name]]
                    for name in names
                    for candidate in candidates[name]
                ],
            }
        ),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    answer: dict[str, Any] = json.loads(completed.stdout)
    verdicts = iter(answer["compare"])
    return {
        "version": answer["version"],
        "node_made": dict(zip(names, answer["hashes"], strict=True)),
        "python_made": python_made,
        "candidates": candidates,
        "bcryptjs_on_python_made": {
            name: [next(verdicts) for _ in candidates[name]] for name in names
        },
    }


def test_bcryptjs_is_the_clients_version(bcryptjs_live: dict[str, Any]) -> None:
    assert bcryptjs_live["version"] == "2.4.3"


def test_it_verifies_hashes_bcryptjs_just_made(bcryptjs_live: dict[str, Any]) -> None:
    for name, key_hash in bcryptjs_live["node_made"].items():
        assert key_hash.startswith("$2a$10$"), name
        assert p.bcrypt_verify(BCRYPT_CASES[name], key_hash), name


def test_bcryptjs_accepts_the_hashes_python_made(bcryptjs_live: dict[str, Any]) -> None:
    for name, verdicts in bcryptjs_live["bcryptjs_on_python_made"].items():
        assert verdicts[0] is True, name  # the passphrase itself
        if len(BCRYPT_CASES[name].encode()) < 72:
            assert verdicts[1] is False, name  # one character more


def test_both_libraries_answer_alike_for_every_candidate(bcryptjs_live: dict[str, Any]) -> None:
    """Including 72-byte truncation: bytes past 72 never count, bytes before always do."""
    for name, candidates in bcryptjs_live["candidates"].items():
        ours = [p.bcrypt_verify(c, bcryptjs_live["python_made"][name]) for c in candidates]
        assert ours == bcryptjs_live["bcryptjs_on_python_made"][name], name
    exact = bcryptjs_live["python_made"]["exactly_72_bytes"]
    assert p.bcrypt_verify("b" * 72 + "X", exact) is True
    assert p.bcrypt_verify("b" * 71, exact) is False
