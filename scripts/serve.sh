#!/usr/bin/env bash
# Run the server on the embedded defaults: SQLite, in-memory channel layer, local files,
# a local JWT signing secret (see `manage.py dev_token`). Any argument is passed to runserver.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bootstrap.sh
.venv/bin/python manage.py migrate --noinput -v0
echo "==> get a token:  .venv/bin/python manage.py dev_token you@example.com"
exec .venv/bin/python manage.py runserver "${@:-127.0.0.1:8000}"
