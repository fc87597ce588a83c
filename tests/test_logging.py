"""Logging: namespaces, request ids, JSON lines, and no secrets or patient text in the output."""

from __future__ import annotations

import io
import json
import logging

import pytest

from mediqom.logging import (
    JsonFormatter,
    NamespaceFilter,
    RedactingFilter,
    RequestIdFilter,
    get_logger,
    redact_text,
    request_id_var,
)
from tests.conftest import ok

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwicm9sZSI6ImF1dGhlbnRpY2F0ZWQifQ"
    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)
PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
CIPHERTEXT = "q83vEjRWeJq8kN3x0vQ1cD2eF3gH4iJ5kL6mN7oP8qR9sT0uV1wX2yZ3aB4cD5eF6=="
RECOVERY = "ABCD-EFGH-JKMN-PQRS-TVWX-YZ01-2345-6789-ABCD-EFGH"
BCRYPT = "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"


def capture(logger_name: str, json_lines: bool = True) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter("%(message)s"))
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger(logger_name)
    logger.handlers = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger, stream


@pytest.mark.parametrize("secret", [JWT, PEM, CIPHERTEXT, RECOVERY, BCRYPT, f"Bearer {JWT}"])
def test_redaction_removes_secrets_from_text(secret):
    assert secret not in redact_text(f"before {secret} after")
    assert "before" in redact_text(f"before {secret} after")


def test_the_filter_scrubs_message_args_and_extras():
    logger, stream = capture("mediqom.test_redaction")
    request_id_var.set("req-42")
    logger.info(
        "token %s for %s",
        JWT,
        "user",
        extra={
            "transcript": "patient reports chest pain",
            "content": CIPHERTEXT,
            "document_id": "d-1",
            "payload": {"passphrase": "hunter2", "count": 3},
        },
    )
    line = stream.getvalue().strip()
    record = json.loads(line)
    assert JWT not in line
    assert "chest pain" not in line
    assert CIPHERTEXT not in line
    assert "hunter2" not in line
    assert record["request_id"] == "req-42"
    assert record["document_id"] == "d-1"
    assert record["payload"]["count"] == 3
    assert record["logger"] == "mediqom.test_redaction"


def test_exception_tracebacks_are_redacted():
    logger, stream = capture("mediqom.test_traceback")
    secret_text = "".join(["patient ", "Jane ", "Doe ", PEM])
    try:
        raise ValueError(secret_text)
    except ValueError:
        logger.exception("failed")
    assert "BEGIN PRIVATE KEY" not in stream.getvalue()
    assert "Jane Doe" not in stream.getvalue()
    assert "ValueError" in stream.getvalue()
    assert "test_exception_tracebacks_are_redacted" in stream.getvalue()  # frames are kept


def test_namespaces_can_be_switched_off():
    only_auth = NamespaceFilter(["auth"])
    assert only_auth.filter(logging.makeLogRecord({"name": "mediqom.auth"}))
    assert not only_auth.filter(logging.makeLogRecord({"name": "mediqom.session"}))
    assert only_auth.filter(logging.makeLogRecord({"name": "django.request"}))
    assert NamespaceFilter(["*"]).filter(logging.makeLogRecord({"name": "mediqom.session"}))


def test_areas_are_the_seeds_namespaces():
    assert get_logger("session").name == "mediqom.session"
    with pytest.raises(ValueError, match="unknown log area"):
        get_logger("nonsense")


@pytest.mark.django_db
def test_a_request_logs_no_token_and_carries_its_request_id(client_for, alice, configured_output):
    from tests.conftest import token_for

    token = token_for(alice)
    ok(
        client_for(None).get(
            "/v1/med/user",
            HTTP_AUTHORIZATION=f"Bearer {token}x",
            HTTP_X_REQUEST_ID="trace-rejected-1",
        ),
        401,
    )
    response = client_for(alice).get("/v1/med/user", HTTP_X_REQUEST_ID="trace-123456")
    assert response.status_code == 200, response.content
    assert response["X-Request-ID"] == "trace-123456"
    output = configured_output.getvalue()
    assert "rejected token" in output  # the rejection was logged...
    assert "trace-rejected-1" in output  # ...with its request id...
    assert token.split(".")[2] not in output  # ...and without the token
    assert token.split(".")[1] not in output


@pytest.mark.django_db
def test_an_unexpected_error_is_logged_without_patient_data(configured_output, alice):
    from mediqom.api.exceptions import exception_handler

    response = exception_handler(RuntimeError("patient Jane Doe, " + CIPHERTEXT), {"view": None})
    assert response.status_code == 500
    assert response.data["code"] == "server_error"
    output = configured_output.getvalue()
    assert "RuntimeError" in output
    assert "Jane Doe" not in output
    assert CIPHERTEXT not in output
