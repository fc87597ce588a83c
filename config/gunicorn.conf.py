"""gunicorn settings for the REST API (WSGI): `gunicorn -c config/gunicorn.conf.py config.wsgi`.

Threaded workers (README "Serving the REST API"): one process per core, each with
GUNICORN_THREADS threads, so a worker keeps its core busy while requests wait on PostgreSQL.
Each thread keeps its database connection (DB_CONN_MAX_AGE, checked before reuse by
DB_CONN_HEALTH_CHECKS): workers x threads connections in all. Measured in bench/README.md.
"""

from __future__ import annotations

import os

# Persistent connections unless the environment says otherwise (read by config/settings.py
# in each worker; the workers inherit this process's environment).
os.environ.setdefault("DB_CONN_MAX_AGE", "600")

workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 1)
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS") or 8)
keepalive = 5
# The proxy in front terminates TLS and forwards X-Forwarded-* (see MEDIQOM_TRUSTED_PROXY_COUNT).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = None
