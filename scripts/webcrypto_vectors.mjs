// WebCrypto interop vectors for crypto_app/primitives.py (Mediqom client formats, contract §6.1/§12).
//
// Regenerate the committed fixture (Node >= 20, no npm packages, only globalThis.crypto.subtle):
//
//     node scripts/webcrypto_vectors.mjs            # writes tests/fixtures/webcrypto/vectors.json
//     node scripts/webcrypto_vectors.mjs --out F    # writes F instead
//
// Live interop mode, used by tests/crypto_app/test_webcrypto_interop.py (one process for all
// formats): reads a JSON request on stdin with values Python encrypted, decrypts them here the
// way the client does, encrypts fresh values for Python to decrypt, and prints JSON on stdout.
//
//     node scripts/webcrypto_vectors.mjs --interop < request.json
//
// Every helper below mirrors the client's src/lib/encryption/*.ts (aes, rsa, passphrase with
// 100,000 PBKDF2 iterations, passkey-prf, recovery) including btoa/atob for base64.
//
// bcrypt is not WebCrypto: the tests run bcryptjs 2.4.3 (the client's version) live through
// scripts/node/bcrypt_interop.cjs (installed by scripts/node-deps.sh).

import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

const subtle = globalThis.crypto.subtle;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

// ------------------------------------------------------------------ base64 (btoa/atob, as client)

function bytesToBase64(bytes) {
  let binary = "";
  for (const byte of new Uint8Array(bytes)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function base64ToBytes(b64) {
  return Uint8Array.from(atob(b64), (char) => char.charCodeAt(0));
}

function concatBytes(...parts) {
  const total = parts.reduce((sum, part) => sum + part.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(new Uint8Array(part), offset);
    offset += part.byteLength;
  }
  return out;
}

// ------------------------------------------------------------------ AES-GCM (src/lib/encryption/aes.ts)

async function generateAesKey() {
  return subtle.generateKey({ name: "AES-GCM", length: 256 }, true, ["encrypt", "decrypt"]);
}

async function exportAesKey(key) {
  return bytesToBase64(await subtle.exportKey("raw", key));
}

async function importAesKey(b64) {
  return subtle.importKey("raw", base64ToBytes(b64), { name: "AES-GCM" }, true, [
    "encrypt",
    "decrypt",
  ]);
}

async function aesEncrypt(text, key) {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ciphertext = await subtle.encrypt({ name: "AES-GCM", iv }, key, encoder.encode(text));
  return bytesToBase64(concatBytes(iv, ciphertext));
}

async function aesDecrypt(envelope, key) {
  const combined = base64ToBytes(envelope);
  const iv = combined.slice(0, 12);
  const plaintext = await subtle.decrypt({ name: "AES-GCM", iv }, key, combined.slice(12));
  return decoder.decode(plaintext);
}

// ------------------------------------------------------------------ RSA-OAEP (src/lib/encryption/rsa.ts)

async function generateRsaKeyPair() {
  return subtle.generateKey(
    {
      name: "RSA-OAEP",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["encrypt", "decrypt"],
  );
}

async function keyToPEM(key, isPrivate) {
  const exported = await subtle.exportKey(isPrivate ? "pkcs8" : "spki", key);
  const b64 = bytesToBase64(exported);
  const type = isPrivate ? "PRIVATE" : "PUBLIC";
  return `-----BEGIN ${type} KEY-----\n${b64.match(/.{1,64}/g).join("\n")}\n-----END ${type} KEY-----`;
}

async function pemToKey(pem, isPrivate = false) {
  const header = isPrivate ? "-----BEGIN PRIVATE KEY-----" : "-----BEGIN PUBLIC KEY-----";
  const footer = isPrivate ? "-----END PRIVATE KEY-----" : "-----END PUBLIC KEY-----";
  const contents = pem.replace(header, "").replace(footer, "").replace(/\n/g, "");
  const der = Uint8Array.from(atob(contents), (char) => char.charCodeAt(0));
  return subtle.importKey(
    isPrivate ? "pkcs8" : "spki",
    der.buffer,
    { name: "RSA-OAEP", hash: "SHA-256" },
    true,
    isPrivate ? ["decrypt"] : ["encrypt"],
  );
}

async function rsaEncrypt(publicKey, text) {
  const encrypted = await subtle.encrypt({ name: "RSA-OAEP" }, publicKey, encoder.encode(text));
  return bytesToBase64(encrypted);
}

async function rsaDecrypt(privateKey, b64) {
  const decrypted = await subtle.decrypt({ name: "RSA-OAEP" }, privateKey, base64ToBytes(b64));
  return decoder.decode(decrypted);
}

// ------------------------------------------------------------------ passphrase (PBKDF2, 100k, legacy v1)

const PBKDF2_ITERATIONS = 100000;

async function passphraseKey(passphrase, salt, usage) {
  const material = await subtle.importKey("raw", encoder.encode(passphrase), { name: "PBKDF2" }, false, [
    "deriveKey",
  ]);
  return subtle.deriveKey(
    { name: "PBKDF2", salt, iterations: PBKDF2_ITERATIONS, hash: "SHA-256" },
    material,
    { name: "AES-GCM", length: 256 },
    false,
    [usage],
  );
}

async function encryptString(message, passphrase) {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const key = await passphraseKey(passphrase, salt, "encrypt");
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const encrypted = await subtle.encrypt({ name: "AES-GCM", iv }, key, encoder.encode(message));
  return bytesToBase64(concatBytes(salt, iv, encrypted));
}

async function decryptString(envelope, passphrase) {
  const combined = base64ToBytes(envelope);
  const key = await passphraseKey(passphrase, combined.slice(0, 16), "decrypt");
  const plaintext = await subtle.decrypt(
    { name: "AES-GCM", iv: combined.slice(16, 28) },
    key,
    combined.slice(28),
  );
  return decoder.decode(plaintext);
}

// ------------------------------------------------------------------ HKDF (recovery.ts, passkey-prf.ts)

const HKDF_INFO = encoder.encode("private-key-encryption");
const RECOVERY_SALT = encoder.encode("mediqom-recovery-key-v1");
const PRF_SALT = encoder.encode("mediqom-prf-derived-key-v1");

async function hkdfAesKey(ikm, salt) {
  const base = await subtle.importKey("raw", ikm, { name: "HKDF" }, false, ["deriveKey"]);
  return subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt, info: HKDF_INFO },
    base,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

async function hkdfRawBits(ikm, salt) {
  const base = await subtle.importKey("raw", ikm, { name: "HKDF" }, false, ["deriveBits"]);
  const bits = await subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt, info: HKDF_INFO },
    base,
    256,
  );
  return bytesToBase64(bits);
}

// ------------------------------------------------------------------ recovery key (recovery.ts)

const BASE32_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

function generateRecoveryKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(25));
  let base32 = "";
  let buffer = 0;
  let bitsInBuffer = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bitsInBuffer += 8;
    while (bitsInBuffer >= 5) {
      bitsInBuffer -= 5;
      base32 += BASE32_ALPHABET[(buffer >> bitsInBuffer) & 0x1f];
    }
  }
  base32 = base32.padEnd(40, "0");
  return base32.match(/.{1,4}/g)?.join("-") || base32;
}

function validateRecoveryKeyFormat(key) {
  const clean = key.replace(/[-\s]/g, "").toUpperCase();
  if (clean.length !== 40) return false;
  for (const char of clean) if (!BASE32_ALPHABET.includes(char)) return false;
  return true;
}

function normalizeRecoveryKey(key) {
  return key.replace(/[-\s]/g, "").toUpperCase();
}

async function encryptWithRecoveryKey(text, recoveryKey) {
  if (!validateRecoveryKeyFormat(recoveryKey)) throw new Error("Invalid recovery key format");
  const key = await hkdfAesKey(encoder.encode(normalizeRecoveryKey(recoveryKey)), RECOVERY_SALT);
  return aesEncrypt(text, key);
}

async function recoverPrivateKey(envelope, recoveryKey) {
  if (!validateRecoveryKeyFormat(recoveryKey)) throw new Error("Invalid recovery key format");
  const key = await hkdfAesKey(encoder.encode(normalizeRecoveryKey(recoveryKey)), RECOVERY_SALT);
  return aesDecrypt(envelope, key);
}

async function hashRecoveryKey(recoveryKey) {
  const data = encoder.encode(normalizeRecoveryKey(recoveryKey) + "mediqom-recovery-hash-v1");
  return bytesToBase64(await subtle.digest("SHA-256", data));
}

// ------------------------------------------------------------------ import job results (finalizer.ts)

async function decryptJobResults(privateKey, job) {
  const keyB64 = await rsaDecrypt(privateKey, job.result_encryption_key);
  const key = await importAesKey(keyB64);
  return {
    extraction: JSON.parse(await aesDecrypt(job.encrypted_extraction_result, key)),
    analysis: JSON.parse(await aesDecrypt(job.encrypted_analysis_results, key)),
  };
}

async function encryptJobResults(publicKey, extraction, analysis) {
  const key = await generateAesKey();
  return {
    result_encryption_key: await rsaEncrypt(publicKey, await exportAesKey(key)),
    encrypted_extraction_result: await aesEncrypt(JSON.stringify(extraction), key),
    encrypted_analysis_results: await aesEncrypt(JSON.stringify(analysis), key),
  };
}

// ------------------------------------------------------------------ sample values

const SAMPLE_DOCUMENT = {
  title: "Krevní obraz — Blood count 血液",
  tags: ["lab", "hematology"],
  date: "2025-11-24T08:30:00.000Z",
  values: [
    { code: "HGB", value: 142, unit: "g/L", range: [135, 175] },
    { code: "WBC", value: 6.4, unit: "10^9/L", flag: null },
  ],
  notes: 'Quote " backslash \\ newline\n tab\t ctrl\u0001 emoji 😀 line-sep\u2028',
  fasting: true,
  negative: -17,
};
const SAMPLE_EXTRACTION = [{ fileName: "scan-1.jpg", text: "Hemoglobin 142 g/L", pages: 1 }];
const SAMPLE_ANALYSIS = [
  { type: "report", title: "Lab results", content: { signals: [{ signal: "HGB", value: 142 }] } },
];
const SAMPLE_PASSPHRASE = "correct horse ✓ baterie ščřž 🐴";

// ------------------------------------------------------------------ fixture mode

async function makeFixture() {
  const aesKey = await generateAesKey();
  const plaintext = JSON.stringify(SAMPLE_DOCUMENT);

  const pair = await generateRsaKeyPair();
  const publicPem = await keyToPEM(pair.publicKey, false);
  const privatePem = await keyToPEM(pair.privateKey, true);
  const documentKey = await generateAesKey();
  const documentKeyB64 = await exportAesKey(documentKey);

  const recoveryKey = generateRecoveryKey();
  const prfOutput = crypto.getRandomValues(new Uint8Array(32));
  const prfKey = await hkdfAesKey(prfOutput, PRF_SALT);
  const normalised = encoder.encode(normalizeRecoveryKey(recoveryKey));

  return {
    _comment:
      "Test-only keys and secrets. Regenerate with: node scripts/webcrypto_vectors.mjs " +
      "(see the header of that script).",
    generator: {
      command: "node scripts/webcrypto_vectors.mjs",
      node: process.version,
      generated_at: new Date().toISOString(),
    },
    aes_gcm: {
      key: await exportAesKey(aesKey),
      value: SAMPLE_DOCUMENT,
      plaintext,
      envelope: await aesEncrypt(plaintext, aesKey),
      empty_envelope: await aesEncrypt("", aesKey),
    },
    rsa: {
      public_pem: publicPem,
      private_pem: privatePem,
      aes_key: documentKeyB64,
      wrapped_key: await rsaEncrypt(pair.publicKey, documentKeyB64),
      content_envelope: await aesEncrypt(JSON.stringify(SAMPLE_DOCUMENT.values), documentKey),
      content: SAMPLE_DOCUMENT.values,
    },
    passphrase: {
      passphrase: SAMPLE_PASSPHRASE,
      iterations: PBKDF2_ITERATIONS,
      plaintext: privatePem,
      envelope: await encryptString(privatePem, SAMPLE_PASSPHRASE),
    },
    recovery: {
      recovery_key: recoveryKey,
      normalised: normalizeRecoveryKey(recoveryKey),
      hash: await hashRecoveryKey(recoveryKey),
      derived_key: await hkdfRawBits(normalised, RECOVERY_SALT),
      plaintext: privatePem,
      envelope: await encryptWithRecoveryKey(privatePem, recoveryKey),
    },
    prf: {
      prf_output: bytesToBase64(prfOutput),
      derived_key: await hkdfRawBits(prfOutput, PRF_SALT),
      plaintext: privatePem,
      envelope: await aesEncrypt(privatePem, prfKey),
    },
    import_results: {
      extraction: SAMPLE_EXTRACTION,
      analysis: SAMPLE_ANALYSIS,
      ...(await encryptJobResults(pair.publicKey, SAMPLE_EXTRACTION, SAMPLE_ANALYSIS)),
    },
  };
}

// ------------------------------------------------------------------ interop mode

async function attempt(fn) {
  try {
    return { ok: true, value: await fn() };
  } catch (error) {
    return { ok: false, error: String(error?.name ?? error) };
  }
}

async function interop(request) {
  const pyPrivate = await pemToKey(request.private_pem, true);
  const pyPublic = await pemToKey(request.public_pem, false);

  const decrypted = {
    reexported_public_pem: await attempt(() => keyToPEM(pyPublic, false)),
    reexported_private_pem: await attempt(() => keyToPEM(pyPrivate, true)),
    aes: await attempt(async () => aesDecrypt(request.aes.envelope, await importAesKey(request.aes.key))),
    aes_json_stringify: JSON.stringify(request.aes.value),
    wrapped_key: await attempt(() => rsaDecrypt(pyPrivate, request.wrapped_key)),
    passphrase: await attempt(() => decryptString(request.passphrase.envelope, request.passphrase.passphrase)),
    recovery: await attempt(() => recoverPrivateKey(request.recovery.envelope, request.recovery.recovery_key)),
    recovery_valid: validateRecoveryKeyFormat(request.recovery.recovery_key),
    recovery_hash: await hashRecoveryKey(request.recovery.recovery_key),
    prf: await attempt(async () =>
      aesDecrypt(request.prf.envelope, await hkdfAesKey(base64ToBytes(request.prf.prf_output), PRF_SALT)),
    ),
    results: await attempt(() => decryptJobResults(pyPrivate, request.results)),
    tampered_aes: await attempt(async () =>
      aesDecrypt(request.tampered_aes_envelope, await importAesKey(request.aes.key)),
    ),
  };

  const pair = await generateRsaKeyPair();
  const aesKey = await generateAesKey();
  const wrappedForPython = await generateAesKey();
  const recoveryKey = generateRecoveryKey();
  const prfOutput = crypto.getRandomValues(new Uint8Array(32));
  const privatePem = await keyToPEM(pair.privateKey, true);
  const fresh = {
    public_pem: await keyToPEM(pair.publicKey, false),
    private_pem: privatePem,
    aes: {
      key: await exportAesKey(aesKey),
      plaintext: JSON.stringify(SAMPLE_DOCUMENT),
      envelope: await aesEncrypt(JSON.stringify(SAMPLE_DOCUMENT), aesKey),
    },
    wrapped_to_python: {
      aes_key: await exportAesKey(wrappedForPython),
      wrapped: await rsaEncrypt(pyPublic, await exportAesKey(wrappedForPython)),
    },
    wrapped_to_node: {
      aes_key: await exportAesKey(aesKey),
      wrapped: await rsaEncrypt(pair.publicKey, await exportAesKey(aesKey)),
    },
    passphrase: {
      passphrase: SAMPLE_PASSPHRASE,
      plaintext: privatePem,
      envelope: await encryptString(privatePem, SAMPLE_PASSPHRASE),
    },
    recovery: {
      recovery_key: recoveryKey,
      hash: await hashRecoveryKey(recoveryKey),
      plaintext: privatePem,
      envelope: await encryptWithRecoveryKey(privatePem, recoveryKey),
    },
    prf: {
      prf_output: bytesToBase64(prfOutput),
      plaintext: privatePem,
      envelope: await aesEncrypt(privatePem, await hkdfAesKey(prfOutput, PRF_SALT)),
    },
    results: {
      extraction: SAMPLE_EXTRACTION,
      analysis: SAMPLE_ANALYSIS,
      ...(await encryptJobResults(pyPublic, SAMPLE_EXTRACTION, SAMPLE_ANALYSIS)),
    },
  };
  return { node: process.version, decrypted, fresh };
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

async function main(argv) {
  if (argv.includes("--interop")) {
    const request = JSON.parse(await readStdin());
    process.stdout.write(JSON.stringify(await interop(request)));
    return;
  }
  const outIndex = argv.indexOf("--out");
  const outPath =
    outIndex >= 0
      ? argv[outIndex + 1]
      : fileURLToPath(new URL("../tests/fixtures/webcrypto/vectors.json", import.meta.url));
  await mkdir(dirname(outPath), { recursive: true });
  await writeFile(outPath, JSON.stringify(await makeFixture(), null, 2) + "\n", "utf8");
  process.stdout.write(`wrote ${outPath}\n`);
}

await main(process.argv.slice(2));
