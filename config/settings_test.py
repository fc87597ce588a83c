"""Test settings: real PostgreSQL (RLS on) from DATABASE_URL, a fixed JWT secret, fast hashing."""

from __future__ import annotations

import os

os.environ.setdefault("MEDIQOM_ENV", "test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
os.environ.setdefault("SUPABASE_JWT_SECRET", "test-only-jwt-secret-with-enough-length-0123456789")
os.environ.setdefault("MEDIQOM_LOG_NAMESPACES", "*")

from config.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
