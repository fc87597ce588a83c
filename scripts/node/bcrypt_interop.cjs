// Live bcrypt interop for tests/crypto_app/test_webcrypto_interop.py, with bcryptjs (the
// client's bcrypt, pinned in package.json here; installed by scripts/node-deps.sh).
//
//     node scripts/node/bcrypt_interop.cjs < request.json
//
// request: {"hash": [passphrase, ...], "compare": [[candidate, hash], ...]}
// answer:  {"version": "2.4.3", "hashes": [hashSync(p, 10), ...], "compare": [bool, ...]}
"use strict";
const bcrypt = require("bcryptjs");
const { version } = require("bcryptjs/package.json");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const request = JSON.parse(input);
  const hashes = request.hash.map((passphrase) => bcrypt.hashSync(passphrase, 10));
  const compare = request.compare.map(([candidate, hash]) => bcrypt.compareSync(candidate, hash));
  process.stdout.write(JSON.stringify({ version, hashes, compare }) + "\n");
});
