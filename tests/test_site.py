"""Landing page, health check, OpenAPI schema, and production settings hygiene."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tests.conftest import ok

ROOT = Path(__file__).resolve().parent.parent


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MEDIQOM_", "DJANGO_"))}
    clean.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


PRODUCTION = {
    "MEDIQOM_ENV": "production",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
    "ALLOWED_HOSTS": "api.example.com",
    "SUPABASE_URL": "https://abcdefgh.supabase.co",
    "MEDIQOM_FIELD_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
}


def test_the_landing_page_links_docs_admin_and_health():
    page = ok(Client().get("/")).content.decode()
    assert "Mediqom Server" in page
    for link in ('href="/v1/docs"', 'href="/admin/"', 'href="/healthz"'):
        assert link in page


@pytest.mark.django_db
def test_health_is_ok_with_database_and_in_memory_layer():
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "channel_layer": "ok"}


@pytest.mark.django_db
def test_health_is_ok_with_the_redis_channel_layer(settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [settings.TEST_REDIS_URL]},
        }
    }
    response = Client().get("/healthz")
    assert response.status_code == 200, response.content
    assert response.json()["channel_layer"] == "ok"


@pytest.mark.django_db
def test_health_reports_an_unreachable_channel_layer(settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},
        }
    }
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["channel_layer"] == "unavailable"


def _v1_routes() -> set[str]:
    routes: set[str] = set()

    def walk(patterns: list[URLPattern | URLResolver], prefix: str) -> None:
        for pattern in patterns:
            text = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, text)
            elif text.startswith("v1/") and text not in ("v1/schema", "v1/docs", r"v1/^[\s\S]*$"):
                routes.add(
                    "/" + text.replace("<uuid:", "{").replace("<str:", "{").replace(">", "}")
                )

    walk(get_resolver().url_patterns, "")
    return routes


def test_the_openapi_schema_describes_every_v1_endpoint():
    response = Client().get("/v1/schema")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    documented = set(schema["paths"])
    assert _v1_routes() <= documented, _v1_routes() - documented
    assert "supabaseJWT" in schema["components"]["securitySchemes"]
    assert "ErrorEnvelope" in schema["components"]["schemas"]
    docs = Client().get("/v1/docs")
    assert docs.status_code == 200
    assert b"cdn." not in docs.content  # assets are served locally (no internet needed)
    assert b"/static/drf_spectacular_sidecar/" in docs.content


def test_check_deploy_is_clean_in_production_settings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY is required"),
        ({"DATABASE_URL": "sqlite:///x.db"}, "Production needs PostgreSQL"),
        ({"DEBUG": "maybe"}, "DEBUG must be a boolean"),
        ({"MEDIQOM_ENV": "staging"}, "MEDIQOM_ENV must be one of"),
        ({"MEDIQOM_FIELD_ENCRYPTION_KEY": ""}, "MEDIQOM_FIELD_ENCRYPTION_KEY is required"),
        ({"MEDIQOM_FIELD_ENCRYPTION_KEY": "c2hvcnQ="}, "base64-encoded 32-byte keys"),
    ],
)
def test_production_settings_fail_loudly(override, message):
    result = run_manage("check", **{**PRODUCTION, **override})
    assert result.returncode != 0
    assert message in result.stderr
