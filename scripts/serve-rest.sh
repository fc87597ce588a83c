#!/usr/bin/env bash
# The REST API in production (README "Serving the REST API"): granian's Rust HTTP server in
# front of config.wsgi (WSGI, the document list's fast path included), one process per core,
# REST_THREADS threads each. Every thread keeps its PostgreSQL connection (DB_CONN_MAX_AGE,
# default 600 s here; an idle thread is retired after 600 s and its connection with it).
# Extra arguments go to granian (e.g. --host 0.0.0.0 --port 8001); MEDIQOM_WSGI_APP names another
# WSGI app (bench/p1.py: its no-audit variant). Measured in bench/README.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DB_CONN_MAX_AGE="${DB_CONN_MAX_AGE:-600}"
granian=.venv/bin/granian
[[ -x "$granian" ]] || granian=granian
exec "$granian" --interface wsgi \
  --workers "${WEB_CONCURRENCY:-$(nproc)}" \
  --blocking-threads "${REST_THREADS:-16}" \
  --blocking-threads-idle-timeout 600 \
  --respawn-failed-workers \
  --workers-kill-timeout 30 \
  --no-ws \
  --log-level warning \
  --host 127.0.0.1 --port 8001 \
  "$@" \
  "${MEDIQOM_WSGI_APP:-config.wsgi:application}"
