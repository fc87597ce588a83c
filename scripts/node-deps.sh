#!/usr/bin/env bash
# npm packages the tests run live (scripts/node/package.json, pinned by its package-lock.json):
# bcryptjs, the client's bcrypt. `npm ci` into scripts/node/node_modules (gitignored), again
# whenever the lock file changed. Sourced by test.sh after system-deps.sh (which installs Node).
node_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/node"
if ! cmp -s "$node_dir/package-lock.json" "$node_dir/node_modules/.package-lock.json.installed"; then
  echo "==> npm ci (scripts/node)"
  (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  cp "$node_dir/package-lock.json" "$node_dir/node_modules/.package-lock.json.installed"
fi
