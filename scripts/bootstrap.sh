#!/usr/bin/env bash
# Create or refresh the virtualenv (.venv) from pyproject.toml. Sourced by serve.sh and test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)'; then
  echo "Mediqom Server needs Python 3.11 (found $("$PYTHON" --version 2>&1))." >&2
  exit 2
fi

# requirements.lock pins every transitive dependency (refresh it with scripts/lock.sh).
stamp=.venv/.installed-$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "==> installing dependencies into .venv"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check \
    --constraint requirements.lock -e '.[dev,bench]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi
