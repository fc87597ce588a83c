"""Settings for every environment, driven by environment variables (see .env.example).

MEDIQOM_ENV selects the defaults: `dev` (embedded: SQLite, in-memory channel layer, local
JWT signing secret generated into var/), `test`, or `production` (every secret required).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_choice, env_int, env_list, env_required, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("MEDIQOM_VAR_DIR", str(BASE_DIR / "var")))

MEDIQOM_ENV = env_choice("MEDIQOM_ENV", "dev", ("dev", "test", "production"))
EMBEDDED = MEDIQOM_ENV != "production"


def _dev_secret(name: str) -> str:
    """A per-machine random secret for the embedded/dev mode, kept in var/dev-secrets.json."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / "dev-secrets.json"
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    if name not in stored:
        stored[name] = secrets.token_urlsafe(48)
        path.write_text(json.dumps(stored, indent=2))
        path.chmod(0o600)
    return stored[name]


def _secret(name: str) -> str:
    if EMBEDDED:
        return env_str(name) or _dev_secret(name)
    return env_required(name)


# ---------------------------------------------------------------- GENERAL
SECRET_KEY = _secret("SECRET_KEY")
DEBUG = env_bool("DEBUG", MEDIQOM_ENV == "dev")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
if not EMBEDDED and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set in production.")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_tasks",
    "django_tasks_db",
    "mediqom.records",
    "mediqom.audit",
    "mediqom.billing",
    "mediqom.streams",
    "mediqom.serenity",
    "sessions_app",
    "imports_app",
    "crypto_app",
]

MIDDLEWARE = [
    "mediqom.api.middleware.RequestIdMiddleware",
    "mediqom.api.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "mediqom.api.middleware.V1SlashMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# ---------------------------------------------------------------- DATABASE
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
if not EMBEDDED and DATABASE_URL.startswith("sqlite"):
    raise ImproperlyConfigured("Production needs PostgreSQL: set DATABASE_URL=postgres://...")
try:
    _db: dict[str, Any] = dict(environ.Env.db_url_config(DATABASE_URL))
except (KeyError, ValueError) as exc:
    raise ImproperlyConfigured("DATABASE_URL is not a valid database URL.") from exc
if _db["ENGINE"] == "django.db.backends.sqlite3":
    Path(_db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
_db["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 0, minimum=0)
# Connection reuse (README "Serving the REST API"): the REST server (granian or gunicorn,
# threaded WSGI) keeps one connection per thread (scripts/serve-rest.sh and
# config/gunicorn.conf.py set DB_CONN_MAX_AGE); an ASGI process
# should use psycopg's pool instead (DB_POOL_MAX_SIZE > 0, DB_CONN_MAX_AGE=0). Both are safe
# behind PgBouncer in transaction mode: the RLS identity is set transaction-locally and Django
# sends no prepared statements (the fast path does: MEDIQOM_FAST_READS_PREPARE below); set
# DB_DISABLE_SERVER_SIDE_CURSORS=true there.
DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", 0, minimum=0)
if DB_POOL_MAX_SIZE and _db["ENGINE"] == "django.db.backends.postgresql":
    if _db["CONN_MAX_AGE"]:
        raise ImproperlyConfigured("DB_POOL_MAX_SIZE and DB_CONN_MAX_AGE exclude each other.")
    _db.setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": DB_POOL_MAX_SIZE,
        "timeout": env_int("DB_POOL_TIMEOUT_SECONDS", 10, minimum=1),
        "max_idle": 300,
        "max_lifetime": 1800,
    }
_db["CONN_HEALTH_CHECKS"] = env_bool("DB_CONN_HEALTH_CHECKS", True)
_db["DISABLE_SERVER_SIDE_CURSORS"] = env_bool("DB_DISABLE_SERVER_SIDE_CURSORS", False)
DATABASES = {"default": _db}
# The document list in one round trip without Django's middleware and DRF (config/wsgi.py,
# mediqom/records/fast_reads.py; PostgreSQL only, same body, audit and RLS as the view).
MEDIQOM_FAST_READS = env_bool("MEDIQOM_FAST_READS", True)
# Its statement is prepared on each connection after a few uses; turn off behind PgBouncer in
# transaction mode without prepared-statement support (PgBouncer < 1.21).
MEDIQOM_FAST_READS_PREPARE = env_bool("MEDIQOM_FAST_READS_PREPARE", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ---------------------------------------------------------------- LIVE FAN-OUT
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# ---------------------------------------------------------------- BACKGROUND WORK
# thread: in-process background threads (embedded default); database: django-tasks-db, run
# `manage.py db_worker` on any number of machines; immediate: inside the caller (tests).
_TASK_BACKENDS = {
    "thread": "mediqom.background.ThreadBackend",
    "database": "django_tasks_db.DatabaseBackend",
    "immediate": "django_tasks.backends.immediate.ImmediateBackend",
}
MEDIQOM_TASKS_BACKEND = env_choice("MEDIQOM_TASKS_BACKEND", "thread", tuple(_TASK_BACKENDS))
TASKS = {
    "default": {
        "BACKEND": _TASK_BACKENDS[MEDIQOM_TASKS_BACKEND],
        "OPTIONS": (
            {"workers": env_int("MEDIQOM_TASK_THREADS", 4, minimum=1)}
            if MEDIQOM_TASKS_BACKEND == "thread"
            else {}
        ),
    }
}

# ---------------------------------------------------------------- AUTH (Supabase JWT)
SUPABASE_URL = (env_str("SUPABASE_URL") or "").rstrip("/")
SUPABASE_ANON_KEY = env_str("SUPABASE_ANON_KEY")
SUPABASE_SERVICE_ROLE_KEY = env_str("SUPABASE_SERVICE_ROLE_KEY")
# HS256 shared secret. Embedded mode generates a local one (used by `manage.py dev_token`).
SUPABASE_JWT_SECRET = env_str("SUPABASE_JWT_SECRET") or (
    _dev_secret("SUPABASE_JWT_SECRET") if EMBEDDED else None
)
SUPABASE_JWKS_URL = env_str(
    "SUPABASE_JWKS_URL",
    f"{SUPABASE_URL}/auth/v1/.well-known/jwks.json" if SUPABASE_URL else "",
)
if not EMBEDDED and not (SUPABASE_JWT_SECRET or SUPABASE_JWKS_URL):
    raise ImproperlyConfigured("Set SUPABASE_JWT_SECRET or SUPABASE_URL to verify tokens.")
MEDIQOM_JWT_LEEWAY_SECONDS = min(env_int("MEDIQOM_JWT_LEEWAY_SECONDS", 10, minimum=0), 30)
MEDIQOM_JWT_ISSUER = env_str(
    "MEDIQOM_JWT_ISSUER", f"{SUPABASE_URL}/auth/v1" if SUPABASE_URL else ""
)
MEDIQOM_JWT_MAX_BYTES = env_int("MEDIQOM_JWT_MAX_BYTES", 8192, minimum=512)
MEDIQOM_JWKS_MIN_REFRESH_SECONDS = env_int("MEDIQOM_JWKS_MIN_REFRESH_SECONDS", 60, minimum=0)
# Cached JWKS keys are refetched when older than this (a key revoked upstream stops working).
MEDIQOM_JWKS_MAX_AGE_SECONDS = env_int("MEDIQOM_JWKS_MAX_AGE_SECONDS", 600, minimum=0)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# ---------------------------------------------------------------- REST API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["mediqom.auth.authentication.SupabaseJWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["mediqom.api.renderers.OrjsonRenderer"],
    "DEFAULT_PARSER_CLASSES": ["mediqom.api.parsers.LimitedJSONParser"],
    "EXCEPTION_HANDLER": "mediqom.api.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "mediqom.api.schema.MediqomAutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Mediqom Server API",
    "DESCRIPTION": "Drop-in /v1 backend for the Mediqom client. Errors use one envelope: "
    '{"message": str, "code": snake_case, "fields": {...}}.',
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # The docs page's scripts are served from our static files, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Two request fields are named `type`: documents' and POST /v1/med/session's.
    "ENUM_NAME_OVERRIDES": {
        "DocumentTypeEnum": "mediqom.records.models.DOCUMENT_TYPES",
        "MedSessionTypeEnum": ["transcript", "diagnosis"],
    },
}

# Recovery endpoints: at most this many failed attempts per email and per client IP per window.
MEDIQOM_RECOVERY_RATE_LIMIT = env_int("MEDIQOM_RECOVERY_RATE_LIMIT", 5, minimum=1)
MEDIQOM_RECOVERY_RATE_WINDOW_SECONDS = env_int(
    "MEDIQOM_RECOVERY_RATE_WINDOW_SECONDS", 15 * 60, minimum=1
)
# How many reverse proxies in front of the server append to X-Forwarded-For. 0: the client IP is
# the socket peer (REMOTE_ADDR); N: the N-th address from the right of X-Forwarded-For.
MEDIQOM_TRUSTED_PROXY_COUNT = env_int("MEDIQOM_TRUSTED_PROXY_COUNT", 0, minimum=0)

MEDIQOM_MAX_BODY_BYTES = env_int("MEDIQOM_MAX_BODY_BYTES", 80 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MEDIQOM_MAX_BODY_BYTES

# ---------------------------------------------------------------- BILLING (Stripe) / BETA
# Without STRIPE_SECRET_KEY the Stripe routes answer 503 `stripe_not_configured` (the rest of
# the server works); without STRIPE_WEBHOOK_SECRET the webhook does.
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET")
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "https://api.stripe.com").rstrip("/")
STRIPE_WEBHOOK_TOLERANCE_SECONDS = env_int("STRIPE_WEBHOOK_TOLERANCE_SECONDS", 300, minimum=1)
STRIPE_TIMEOUT_SECONDS = env_int("STRIPE_TIMEOUT_SECONDS", 30, minimum=1)
STRIPE_MAX_NETWORK_RETRIES = env_int("STRIPE_MAX_NETWORK_RETRIES", 2, minimum=0)
# Price ids of the catalogue's products; each falls back to the catalogue row's stripe_price_*.
STRIPE_PRICES: dict[str, str | None] = {
    "caretaker.monthly": env_str("STRIPE_PRICE_CARETAKER_MONTHLY"),
    "caretaker.yearly": env_str("STRIPE_PRICE_CARETAKER_YEARLY"),
    "family.monthly": env_str("STRIPE_PRICE_FAMILY_MONTHLY"),
    "family.yearly": env_str("STRIPE_PRICE_FAMILY_YEARLY"),
    "pack_50": env_str("STRIPE_PRICE_PACK_50"),
}
# Public beta routes: calls allowed per client IP per window (POST and GET share the budget).
MEDIQOM_BETA_RATE_LIMIT = env_int("MEDIQOM_BETA_RATE_LIMIT", 10, minimum=1)
MEDIQOM_BETA_RATE_WINDOW_SECONDS = env_int("MEDIQOM_BETA_RATE_WINDOW_SECONDS", 3600, minimum=1)

# ---------------------------------------------------------------- I18N / STATIC
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("MEDIQOM_STATIC_ROOT", str(VAR_DIR / "static")))
# Admin and API-docs assets are served by WhiteNoise (run `manage.py collectstatic` when
# deploying); in dev they come straight from the apps.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not EMBEDDED
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = EMBEDDED
if EMBEDDED:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = Path(env_str("MEDIQOM_MEDIA_ROOT", str(VAR_DIR / "media")))

# ---------------------------------------------------------------- FILE STORAGE
# `local` keeps objects under MEDIA_ROOT; `supabase` uses Supabase Storage buckets
# `attachments` and `avatars` (needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY). `auto` picks
# supabase when both are set.
MEDIQOM_STORAGE_BACKEND = env_choice(
    "MEDIQOM_STORAGE_BACKEND", "auto", ("auto", "local", "supabase")
)
if MEDIQOM_STORAGE_BACKEND == "auto":
    MEDIQOM_STORAGE_BACKEND = "supabase" if SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY else "local"
if MEDIQOM_STORAGE_BACKEND == "supabase" and not (SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY):
    raise ImproperlyConfigured("Supabase storage needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY.")
MEDIQOM_MAX_UPLOAD_BYTES = env_int("MEDIQOM_MAX_UPLOAD_BYTES", 50 * 1024 * 1024, minimum=1024)

# ---------------------------------------------------------------- SECURITY
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
if not EMBEDDED:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])


# ---------------------------------------------------------------- FIELD ENCRYPTION
# Secrets the client contract forces the server to hold (private_keys.key_pass) are stored
# AES-256-GCM encrypted with these keys: comma-separated base64 32-byte keys, newest first.
# The newest encrypts; all decrypt (rotate with `manage.py rotate_field_keys`).
def _field_keys() -> list[str]:
    raw = env_str("MEDIQOM_FIELD_ENCRYPTION_KEY")
    if raw is None:
        if not EMBEDDED:
            raise ImproperlyConfigured("MEDIQOM_FIELD_ENCRYPTION_KEY is required in production.")
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        raw = base64.b64encode(hashlib.sha256(_dev_secret("FIELD_KEY").encode()).digest()).decode()
    keys = [item.strip() for item in raw.split(",") if item.strip()]
    for key in keys:
        try:
            valid = len(base64.b64decode(key, validate=True)) == 32
        except ValueError:
            valid = False
        if not valid:
            raise ImproperlyConfigured(
                "MEDIQOM_FIELD_ENCRYPTION_KEY must hold base64-encoded 32-byte keys "
                "(see .env.example for how to make one)."
            )
    if not keys:
        raise ImproperlyConfigured("MEDIQOM_FIELD_ENCRYPTION_KEY holds no key.")
    return keys


MEDIQOM_FIELD_ENCRYPTION_KEYS = _field_keys()

# ---------------------------------------------------------------- LIVE CONSULTATIONS (sessions_app)
# An active session with no activity for this long is ended (`manage.py end_idle_sessions`).
MEDIQOM_SESSION_IDLE_MINUTES = env_int("MEDIQOM_SESSION_IDLE_MINUTES", 30, minimum=1)
# Ended sessions (transcripts, analysis, report, events) are deleted after this many hours
# (`manage.py purge_sessions`).
MEDIQOM_SESSION_TTL_HOURS = env_int("MEDIQOM_SESSION_TTL_HOURS", 24, minimum=1)
# Live analysis throttle: at most one run per session per interval, and only once the
# transcript grew by this many characters (one run in flight; later text is coalesced).
MEDIQOM_SESSION_ANALYSIS_MIN_INTERVAL_SECONDS = env_int(
    "MEDIQOM_SESSION_ANALYSIS_MIN_INTERVAL_SECONDS", 10, minimum=0
)
MEDIQOM_SESSION_ANALYSIS_MIN_NEW_CHARS = env_int(
    "MEDIQOM_SESSION_ANALYSIS_MIN_NEW_CHARS", 80, minimum=1
)
# An analysis run that has been "in flight" this long is considered dead and may be retried.
MEDIQOM_SESSION_ANALYSIS_STALE_SECONDS = env_int(
    "MEDIQOM_SESSION_ANALYSIS_STALE_SECONDS", 300, minimum=10
)
# Optional OpenAI conversation state per session (the reference's "thread", `hasOpenAIThread`)
# through the Conversations API, when the session_diagnosis flow has an OpenAI key: created
# at `POST /v1/session/start` with no patient data, deleted when the session ends.
MEDIQOM_SESSION_OPENAI_CONVERSATIONS = env_bool("MEDIQOM_SESSION_OPENAI_CONVERSATIONS", False)
# Largest audio file accepted for transcription (OpenAI's limit is 25 MB).
MEDIQOM_TRANSCRIBE_MAX_BYTES = env_int(
    "MEDIQOM_TRANSCRIBE_MAX_BYTES", 25 * 1024 * 1024, minimum=1024
)

# ---------------------------------------------------------------- FEATURE FLAGS
MEDIQOM_ENABLE_ADMIN = env_bool("MEDIQOM_ENABLE_ADMIN", True)
MEDIQOM_ENABLE_API_DOCS = env_bool("MEDIQOM_ENABLE_API_DOCS", True)

# ---------------------------------------------------------------- LOGGING
from mediqom.logging import build_logging_config  # noqa: E402

LOGGING = build_logging_config(
    level=env_choice(
        "MEDIQOM_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
    ),
    namespaces=env_list("MEDIQOM_LOG_NAMESPACES", ["*"]),
    json_lines=env_bool("MEDIQOM_LOG_JSON", not EMBEDDED),
)

# ---------------------------------------------------------------- AI PROVIDERS (mediqom/ai)
# Providers and flows live in config/ai-models.yaml; keys and addresses only here (env).
MEDIQOM_AI_MODELS_FILE = Path(
    env_str("MEDIQOM_AI_MODELS_FILE", str(BASE_DIR / "config" / "ai-models.yaml"))
)
OPENAI_API_KEY = env_str("OPENAI_API_KEY")
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL")
GEMINI_API_KEY = env_str("GEMINI_API_KEY") or env_str("GOOGLE_API_KEY")
GEMINI_BASE_URL = env_str("GEMINI_BASE_URL")
MEDIQOM_AI_COMPAT_BASE_URL = env_str("MEDIQOM_AI_COMPAT_BASE_URL")
MEDIQOM_AI_COMPAT_API_KEY = env_str("MEDIQOM_AI_COMPAT_API_KEY")
MEDIQOM_AI_COMPAT_MODEL = env_str("MEDIQOM_AI_COMPAT_MODEL")
MEDIQOM_AI_COMPAT_TRANSCRIBE_MODEL = env_str("MEDIQOM_AI_COMPAT_TRANSCRIBE_MODEL")
# Overrides of the YAML's performance block (0 / -1: keep the YAML's value)
MEDIQOM_AI_TIMEOUT_MS = env_int("MEDIQOM_AI_TIMEOUT_MS", 0, minimum=0)
MEDIQOM_AI_MAX_RETRIES = env_int("MEDIQOM_AI_MAX_RETRIES", -1, minimum=-1)
MEDIQOM_AI_RETRY_BACKOFF_MS = env_int("MEDIQOM_AI_RETRY_BACKOFF_MS", -1, minimum=-1)
# Use only the offline `local` provider, even when keys are set
MEDIQOM_AI_OFFLINE = env_bool("MEDIQOM_AI_OFFLINE", False)

# ---------------------------------------------------------------- LIVE EVENT STREAMS
# Events of ended streams are purged after this many seconds (`manage.py stream_purge`).
MEDIQOM_STREAM_RETENTION_SECONDS = env_int("MEDIQOM_STREAM_RETENTION_SECONDS", 24 * 3600, minimum=0)
# SSE: a `: keepalive` comment after this much silence; the `retry:` hint for reconnects.
MEDIQOM_STREAM_KEEPALIVE_SECONDS = env_int("MEDIQOM_STREAM_KEEPALIVE_SECONDS", 15, minimum=1)
MEDIQOM_STREAM_RETRY_MS = env_int("MEDIQOM_STREAM_RETRY_MS", 3000, minimum=0)
MEDIQOM_STREAM_SHUTDOWN_RETRY_MS = env_int("MEDIQOM_STREAM_SHUTDOWN_RETRY_MS", 500, minimum=0)
# Live events buffered per connection; a client that falls further behind is closed with a retry
# hint and resumes from the log.
MEDIQOM_STREAM_CLIENT_QUEUE = env_int("MEDIQOM_STREAM_CLIENT_QUEUE", 256, minimum=1)
# Each process compares the streams it follows with the log this often, so an event the channel
# layer dropped (it is at-most-once) is delivered even when no later event reveals the gap
# (after about twice this: a head must stay ahead for a whole interval).
MEDIQOM_STREAM_POLL_SECONDS = env_int("MEDIQOM_STREAM_POLL_SECONDS", 5, minimum=1)
# Threads (each keeping one database connection) reading the log for streams, per process.
MEDIQOM_STREAM_DB_THREADS = env_int("MEDIQOM_STREAM_DB_THREADS", 4, minimum=1)
MEDIQOM_STREAM_MAX_EVENT_BYTES = env_int(
    "MEDIQOM_STREAM_MAX_EVENT_BYTES", 1024 * 1024, minimum=1024
)

# WebSockets (/v1/ws): Origins allowed besides ALLOWED_HOSTS (e.g. https://app.example.com),
# and per-connection limits.
MEDIQOM_WS_ALLOWED_ORIGINS = env_list("MEDIQOM_WS_ALLOWED_ORIGINS", [])
MEDIQOM_WS_MAX_MESSAGE_BYTES = env_int("MEDIQOM_WS_MAX_MESSAGE_BYTES", 4096, minimum=256)
MEDIQOM_WS_MESSAGES_PER_SECOND = env_int("MEDIQOM_WS_MESSAGES_PER_SECOND", 10, minimum=1)
MEDIQOM_WS_MAX_SUBSCRIPTIONS = env_int("MEDIQOM_WS_MAX_SUBSCRIPTIONS", 8, minimum=1)

# ---------------------------------------------------------------- IMPORTS (imports_app)
# A processing job whose row has not moved for this long is presumed dead (its worker died)
# and may be processed again; until then a second `process` is a 409.
MEDIQOM_IMPORT_STALE_SECONDS = env_int("MEDIQOM_IMPORT_STALE_SECONDS", 600, minimum=5)
# Upload limits of POST /v1/import/jobs (checked before anything is stored or charged)
MEDIQOM_IMPORT_MAX_FILES = env_int("MEDIQOM_IMPORT_MAX_FILES", 20, minimum=1)
MEDIQOM_IMPORT_MAX_PAGES = env_int("MEDIQOM_IMPORT_MAX_PAGES", 100, minimum=1)
