#!/usr/bin/env bash
# The whole test suite: lint, types, migrations check, the cross-tenant API tests on SQLite
# (no RLS: the queryset layer alone), then every test on real PostgreSQL (RLS on) and Redis.
# DATABASE_URL / TEST_REDIS_URL point the tests elsewhere; arguments go to the last pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bootstrap.sh
source scripts/system-deps.sh
source scripts/node-deps.sh
source scripts/services.sh

echo "==> ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "==> mypy"
.venv/bin/mypy .
echo "==> migrations are up to date"
MEDIQOM_VAR_DIR="$(mktemp -d)" .venv/bin/python manage.py makemigrations --check --dry-run -v0
echo "==> pytest: cross-tenant API tests on SQLite (no RLS: the queryset layer alone)"
sqlite_dir="$(mktemp -d)"
DATABASE_URL="sqlite:///$sqlite_dir/test.sqlite3" MEDIQOM_VAR_DIR="$sqlite_dir" \
  .venv/bin/python -m pytest -q -m "sqlite_ok" -p no:cacheprovider
echo "==> pytest: the whole suite on PostgreSQL (RLS on) and Redis"
.venv/bin/python -m pytest "$@"
