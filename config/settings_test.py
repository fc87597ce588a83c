"""Test settings: real PostgreSQL (RLS on) from DATABASE_URL, a fixed JWT secret, fast hashing."""

from __future__ import annotations

import os

os.environ.setdefault("MEDIQOM_ENV", "test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
os.environ.setdefault("SUPABASE_JWT_SECRET", "test-only-jwt-secret-with-enough-length-0123456789")
os.environ.setdefault("MEDIQOM_LOG_NAMESPACES", "*")

from config.settings import *  # noqa: F403
from config.settings import DATABASES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

# One test database per pytest process, so parallel runs (developers, helpers, CI) never
# share or drop each other's database. DB_TEST_NAME pins a name (e.g. with --reuse-db).
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["TEST"] = {
        "NAME": os.environ.get("DB_TEST_NAME") or f"test_mediqom_{os.getpid()}"
    }
else:
    DATABASES["default"]["TEST"] = {}  # SQLite: in memory

# Tests never reach a real AI provider: keys and addresses come only from the stub fixtures
# (or, for a server process a test starts, an OpenAI address on the loopback stub).
_LOOPBACK_OPENAI = (os.environ.get("OPENAI_BASE_URL") or "").startswith("http://127.0.0.1:")
OPENAI_API_KEY = os.environ.get("OPENAI_API_KEY") if _LOOPBACK_OPENAI else None
OPENAI_BASE_URL = os.environ.get("OPENAI_BASE_URL") if _LOOPBACK_OPENAI else None
GEMINI_API_KEY = None
GEMINI_BASE_URL = None
MEDIQOM_AI_COMPAT_BASE_URL = None
MEDIQOM_AI_COMPAT_API_KEY = None
MEDIQOM_AI_OFFLINE = False

# Tasks run inside the caller unless a test (or a server the tests start) asks for another
# backend through MEDIQOM_TASKS_BACKEND.
if not os.environ.get("MEDIQOM_TASKS_BACKEND"):
    TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
