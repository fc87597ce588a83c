"""gunicorn settings for the REST API (WSGI): `gunicorn -c config/gunicorn.conf.py config.wsgi`."""

from __future__ import annotations

import os

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
