"""Schemathesis against our own OpenAPI schema (`/v1/schema`), as part of the suite: a real
server process (daphne) on this run's PostgreSQL test database (RLS on), a valid token for a
user whose world (family profile, documents, attachment, avatar) exists, every response check.
Bounded in time; 0 server errors and 0 schema violations, or the test fails with the report.

Not checked: `positive_data_acceptance` (schema-valid bodies must be accepted): the schema
cannot express every server-side rule (no NUL characters, fields required together, a
passphrase that must verify, recovery-key syntax), so valid-looking requests are rightly a 400.
Not called: `DELETE /v1/user/delete`, which would delete the world the other operations use
(tests/records/test_api_account.py covers it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.billing.stripe_stub import PRICES as STRIPE_PRICES
from tests.billing.stripe_stub import SECRET_KEY as STRIPE_SECRET_KEY
from tests.billing.stripe_stub import WEBHOOK_SECRET as STRIPE_WEBHOOK_SECRET
from tests.billing.stripe_stub import stripe_stub  # noqa: F401 - a fixture used below
from tests.conftest import database_url, free_port, persona, token_for

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
TIME_BUDGET_SECONDS = int(os.environ.get("MEDIQOM_FUZZ_SECONDS", "150"))
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "missing_required_header",
        "unsupported_method",
        "use_after_free",
        # not ensure_resource_availability: our schema has no OpenAPI links, so the stateful
        # phase guesses them from names and "finds" a resource created by the stateless
        # POST /v1/med/session missing from /finalize (a false positive, reviewed)
        "ignored_auth",
    ]
)


@pytest.fixture
def server(tmp_path: Path, settings: Any, stripe_stub: Any, ai_stub: Any) -> Any:  # noqa: F811
    """uvicorn (the production ASGI server) serving this test database, its files under the
    same MEDIA_ROOT as this test, with Stripe configured against the local Stripe stub and
    chat and transcription against the local AI stub (every other AI flow runs offline), so
    those routes are fuzzed too instead of answering 503 "not configured"."""
    ai_stub.reply(api="openai", tool=None, text="A short stub answer.")
    ai_stub.reply(api="transcription", transcript="stub transcript")
    models = yaml.safe_load((ROOT / "config" / "ai-models.yaml").read_text())
    for name in models["flows"]:
        if not (name.startswith("ai_chat") or name == "transcription"):
            models["flows"][name] = {"provider": "local"}
    models_file = tmp_path / "ai-models.yaml"
    models_file.write_text(yaml.safe_dump(models))
    media = tmp_path / "media"
    settings.MEDIA_ROOT = media
    settings.MEDIQOM_STORAGE_BACKEND = "local"
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": database_url(),
        "MEDIQOM_VAR_DIR": str(tmp_path / "var"),
        "MEDIQOM_MEDIA_ROOT": str(media),
        "MEDIQOM_STORAGE_BACKEND": "local",
        "MEDIQOM_LOG_LEVEL": "WARNING",
        "MEDIQOM_AI_MODELS_FILE": str(models_file),
        "OPENAI_API_KEY": "sk-test-stub",
        "OPENAI_BASE_URL": ai_stub.openai_base_url,
        "MEDIQOM_AI_MAX_RETRIES": "0",
        "STRIPE_SECRET_KEY": STRIPE_SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
        "STRIPE_API_BASE": stripe_stub.url,
        "STRIPE_MAX_NETWORK_RETRIES": "0",
        **{
            f"STRIPE_PRICE_{name.replace('.', '_').upper()}": price
            for name, price in STRIPE_PRICES.items()
        },
    }
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [
            str(VENV_BIN / "uvicorn"),
            *("--host", "127.0.0.1", "--port", str(port)),
            "--no-access-log",
            "config.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2):  # noqa: S310 - local
                break
        except OSError:
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
    yield {"base": base, "log": tmp_path / "server.log"}
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    log.close()


def test_schemathesis_finds_no_server_error_and_no_schema_violation(server, tmp_path, client_for):
    from tests.records.conftest import build_world

    user = persona("fuzz@example.test")
    world = build_world(user, client_for(user))
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        "[parameters]\n"
        f'"path.pid" = "{world.family_id}"\n'
        f'"path.did" = "{world.family_document_id}"\n'
        f'"query.path" = "{world.attachment_path}"\n'
    )
    schemathesis = shutil.which("schemathesis", path=str(VENV_BIN))
    assert schemathesis is not None, "schemathesis is a dev dependency (pyproject.toml)"

    def run(checks: str, budget: int, *selection: str) -> str:
        completed = subprocess.run(
            [
                schemathesis,
                "--config-file",
                str(config),
                "run",
                f"{server['base']}/v1/schema",
                "--url",
                server["base"],
                "-H",
                f"Authorization: Bearer {token_for(user)}",
                "--checks",
                checks,
                *selection,
                "--max-time",
                str(budget),
                "--max-examples",
                "40",
                # one worker: hypothesis describes lambdas with ast.parse, which is not
                # thread-safe on CPython 3.11 ("AST constructor recursion depth mismatch")
                "--workers",
                "1",
                "--seed",
                os.environ.get("MEDIQOM_FUZZ_SEED", "20261202"),
                "--no-color",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=budget + 240,
            check=False,
        )
        report = completed.stdout + completed.stderr
        assert completed.returncode == 0, (
            report[-15000:] + "\n--- server log ---\n" + server["log"].read_text()[-8000:]
        )
        return report

    # schemathesis 4.32's coverage phase labels a valid body of POST /v1/serenity/analyze
    # (every required property present, plus an extra key) "missing required property:
    # transcript" and fails negative_data_rejection on its 200 (reviewed: the request it prints
    # is schema-valid; a per-operation config override does not beat --checks). That operation
    # runs on its own with every other check; its rejections are pinned one by one in
    # tests/serenity/test_api_analyze.py.
    serenity = "/v1/serenity/analyze"
    report = run(CHECKS, TIME_BUDGET_SECONDS, "--exclude-path", "/v1/user/delete",
                 "--exclude-path", serenity)  # fmt: skip
    others = CHECKS.replace("negative_data_rejection,", "")
    assert others != CHECKS
    alone = run(others, 30, "--include-path", serenity)
    assert "Tested: 1" in alone, alone[-3000:]
    server_log = server["log"].read_text()
    tested = re.search(r"Tested: (\d+)", report)
    assert tested is not None, report[-5000:]
    assert int(tested.group(1)) >= 20, report[-5000:]
    assert "Traceback" not in server_log
