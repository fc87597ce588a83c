#!/usr/bin/env bash
# Longer property-based API fuzzing with schemathesis (a dev dependency) against our own OpenAPI
# schema. The suite runs a time-bounded pass on PostgreSQL (tests/test_schema_fuzz.py); this one
# starts the embedded server on a scratch SQLite database, mints a dev token, runs every check.
# Usage: scripts/fuzz.sh [max examples per operation, default 50]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bootstrap.sh
examples="${1:-50}"
work="$(mktemp -d)"
port=8799
export MEDIQOM_VAR_DIR="$work"
.venv/bin/python manage.py migrate --noinput -v0
.venv/bin/daphne -b 127.0.0.1 -p "$port" config.asgi:application >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
sleep 4
token="$(.venv/bin/python manage.py dev_token fuzz@example.com)"
.venv/bin/schemathesis run "http://127.0.0.1:$port/v1/schema" \
  --url "http://127.0.0.1:$port" -H "Authorization: Bearer $token" \
  --checks all --max-examples "$examples"
