"""Namespaced logging: `mediqom.<area>` loggers, request ids, JSON lines, secret redaction.

Areas: api, auth, session, analysis, import, sse, crypto, audit. The redaction filter runs on
every handler, so a token, key, ciphertext or patient text that slips into a message or an
`extra` field is replaced before it is written.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import traceback
from datetime import UTC, datetime
from typing import Any

AREAS = ("api", "auth", "session", "analysis", "import", "sse", "crypto", "audit")

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# Keys whose values are never logged, whatever they hold.
SENSITIVE_KEYS = frozenset(
    {
        "authorization",
        "cookie",
        "token",
        "access_token",
        "refresh_token",
        "jwt",
        "password",
        "passphrase",
        "key_pass",
        "privatekey",
        "private_key",
        "key",
        "key_hash",
        "recoverykey",
        "recovery_key",
        "recovery_encrypted_key",
        "content",
        "metadata",
        "file",
        "text",
        "transcript",
        "fullname",
        "email",
        "secret",
    }
)
_REDACTED = "[redacted]"
_PATTERNS = [
    # JWTs (three base64url segments, the first starting with eyJ)
    re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    # PEM blocks
    re.compile(r"-----BEGIN [A-Z ]+-----.*?(-----END [A-Z ]+-----|$)", re.DOTALL),
    # Bearer credentials
    re.compile(r"(?i)bearer\s+\S+"),
    # bcrypt hashes
    re.compile(r"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}"),
    # long base64 runs (ciphertext, keys): 40+ characters
    re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{40,}={0,2}"),
    # Crockford recovery keys in display form
    re.compile(r"\b[0-9A-Z]{4}(?:-[0-9A-Z]{4}){7,9}\b"),
]


def redact_text(text: str) -> str:
    """Replace anything that looks like a token, key or ciphertext."""
    for pattern in _PATTERNS:
        text = pattern.sub(_REDACTED, text)
    return text


def redact_value(value: Any, key: str | None = None) -> Any:
    """Redact a structure recursively: sensitive keys entirely, strings by pattern."""
    if key is not None and key.lower().replace("-", "_") in SENSITIVE_KEYS:
        return _REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v) for v in value]
    return value


_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}


class RedactingFilter(logging.Filter):
    """Scrubs the message, its args and every `extra` attribute of a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = redact_text(message)
        record.args = None
        for name, value in list(record.__dict__.items()):
            if name not in _STANDARD_ATTRS:
                setattr(record, name, redact_value(value, name))
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


class RequestIdFilter(logging.Filter):
    """Adds the current request id (or '-') to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class NamespaceFilter(logging.Filter):
    """Lets `mediqom.<area>` records through only for enabled areas (`*` = all)."""

    def __init__(self, namespaces: list[str]) -> None:
        super().__init__()
        self.all = "*" in namespaces
        self.enabled = {n.strip().lower() for n in namespaces}

    def filter(self, record: logging.LogRecord) -> bool:
        if self.all or not record.name.startswith("mediqom."):
            return True
        area = record.name.split(".")[1]
        return area in self.enabled


def format_exception_safely(exc_info: Any) -> str:
    """A traceback with every frame but without exception messages, which may quote data
    (e.g. database errors echo key values). Type names and the chain are kept."""
    exc = exc_info[1]
    if exc is None:
        return ""
    parts: list[str] = []
    seen: set[int] = set()

    def walk(error: BaseException) -> None:
        seen.add(id(error))
        cause = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
        if cause is not None and id(cause) not in seen:
            walk(cause)
            parts.append("\nThe above exception led to the following:\n\n")
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(error.__traceback__))
        parts.append(f"{type(error).__module__}.{type(error).__qualname__} [message withheld]\n")

    walk(exc)
    return redact_text("".join(parts)).rstrip("\n")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, UTC timestamps, extras included."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD_ATTRS and name not in payload:
                payload[name] = value
        if record.exc_info:
            payload["exc"] = format_exception_safely(record.exc_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Readable single-line output for development."""

    def formatException(self, ei: Any) -> str:
        return format_exception_safely(ei)


def build_logging_config(*, level: str, namespaces: list[str], json_lines: bool) -> dict[str, Any]:
    """The LOGGING dict for settings.py."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": "mediqom.logging.RequestIdFilter"},
            "redact": {"()": "mediqom.logging.RedactingFilter"},
            "namespaces": {"()": "mediqom.logging.NamespaceFilter", "namespaces": namespaces},
        },
        "formatters": {
            "json": {"()": "mediqom.logging.JsonFormatter"},
            "text": {
                "()": "mediqom.logging.TextFormatter",
                "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
            },
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json" if json_lines else "text",
                "filters": ["request_id", "namespaces", "redact"],
            }
        },
        "root": {"handlers": ["console"], "level": "WARNING"},
        "loggers": {
            "mediqom": {"handlers": ["console"], "level": level, "propagate": False},
            "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
            # Daphne's access log: once, through our handler (request id, redaction)
            "django.channels.server": {
                "handlers": ["console"],
                "level": "INFO",
                "propagate": False,
            },
        },
    }


def get_logger(area: str) -> logging.Logger:
    """The logger of one area, e.g. get_logger("auth") -> mediqom.auth."""
    if area not in AREAS:
        raise ValueError(f"unknown log area {area!r}")
    return logging.getLogger(f"mediqom.{area}")
