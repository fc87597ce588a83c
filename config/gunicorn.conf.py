"""gunicorn settings for the REST API (WSGI): `gunicorn -c config/gunicorn.conf.py config.wsgi`.

Threaded workers (README "Serving the REST API"): one process per core, each with
GUNICORN_THREADS threads (16: more concurrent audit commits share a WAL flush; 16 beat 8 and 4
on the document list in bench/README.md), so a worker keeps its core busy while requests wait
on PostgreSQL.
Each thread keeps its database connection (DB_CONN_MAX_AGE, checked before reuse by
DB_CONN_HEALTH_CHECKS): workers x threads connections in all. Measured in bench/README.md.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.env import env_int, env_str

# Persistent connections unless the environment says otherwise (read by config/settings.py
# in each worker; the workers inherit this process's environment).
os.environ.setdefault("DB_CONN_MAX_AGE", "600")

workers = env_int("WEB_CONCURRENCY", os.cpu_count() or 1, minimum=1)
worker_class = "gthread"
threads = env_int("GUNICORN_THREADS", 16, minimum=1)
keepalive = 5
# The proxy in front terminates TLS and forwards X-Forwarded-* (see MEDIQOM_TRUSTED_PROXY_COUNT).
forwarded_allow_ips = env_str("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = None
