#!/usr/bin/env bash
# Re-resolve the dependencies of pyproject.toml in a throwaway venv and write requirements.lock
# (every transitive package pinned). Run after changing dependencies, then commit both files.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3.11 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
"$tmp/venv/bin/pip" install --quiet --disable-pip-version-check -e '.[dev,bench]'
"$tmp/venv/bin/pip" freeze --exclude-editable | grep -v '^-e ' > requirements.lock
echo "requirements.lock: $(wc -l < requirements.lock) packages"
