#!/usr/bin/env bash
# Make sure the test services answer. Without DATABASE_URL / TEST_REDIS_URL the local ones are
# used and started when they are down (this is what CI machines provide); with them set, nothing
# is started and the tests report clearly if they are unreachable.
pg_up() { .venv/bin/python - "$1" <<'PY'
import sys, psycopg
try:
    psycopg.connect(sys.argv[1], connect_timeout=3).close()
except Exception as exc:  # noqa: BLE001
    print(f"    {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}")
    sys.exit(1)
PY
}
redis_up() { .venv/bin/python - "$1" <<'PY'
import sys, redis
try:
    redis.Redis.from_url(sys.argv[1], socket_connect_timeout=3).ping()
except Exception as exc:  # noqa: BLE001
    print(f"    {type(exc).__name__}")
    sys.exit(1)
PY
}

if [ -z "${DATABASE_URL:-}" ]; then
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
  if ! pg_up "$DATABASE_URL" >/dev/null && command -v pg_ctlcluster >/dev/null; then
    echo "==> starting the local PostgreSQL cluster"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    for _ in $(seq 1 20); do pg_up "$DATABASE_URL" >/dev/null && break; sleep 0.5; done
  fi
fi
if ! pg_up "$DATABASE_URL"; then
  echo "PostgreSQL is not reachable (DATABASE_URL=${DATABASE_URL%%@*}@...). The tests need a real" >&2
  echo "PostgreSQL: start one, or set DATABASE_URL=postgres://USER:PASSWORD@HOST:PORT/DBNAME." >&2
  exit 3
fi

if [ -z "${TEST_REDIS_URL:-}" ]; then
  export TEST_REDIS_URL="redis://127.0.0.1:6379/15"
  if ! redis_up "$TEST_REDIS_URL" >/dev/null && command -v redis-server >/dev/null; then
    echo "==> starting a local Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    for _ in $(seq 1 20); do redis_up "$TEST_REDIS_URL" >/dev/null && break; sleep 0.5; done
  fi
fi
if ! redis_up "$TEST_REDIS_URL"; then
  echo "Redis is not reachable at $TEST_REDIS_URL: start one or set TEST_REDIS_URL." >&2
  exit 3
fi
