"""Structural rules of the code base (style guide): checked, not just written down."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ["mediqom", "sessions_app", "imports_app", "crypto_app"]
ROOMS = [
    "models.py",
    "querysets.py",
    "services.py",
    "selectors.py",
    "consumers.py",
    "tasks.py",
    "admin.py",
    "api/views.py",
    "api/serializers.py",
    "api/urls.py",
    "migrations",
    "management/commands",
]


def python_files(pattern: str) -> list[Path]:
    return [p for app in APPS for p in (ROOT / app).rglob(pattern) if ".venv" not in p.parts]


def test_views_consumers_and_tasks_never_touch_managers_directly():
    """Rows are reached through selectors/services (which use for_user()), never `.objects.`."""
    offenders = []
    for path in python_files("*.py"):
        relative = path.relative_to(ROOT).as_posix()
        if not (
            re.search(r"/api/views\.py$", relative)
            or relative.endswith(("consumers.py", "tasks.py"))
        ):
            continue
        if ".objects." in path.read_text():
            offenders.append(relative)
    assert offenders == []


def test_every_app_has_the_standard_rooms():
    for app in ["mediqom/records", "mediqom/billing", "sessions_app", "imports_app", "crypto_app"]:
        missing = [room for room in ROOMS if not (ROOT / app / room).exists()]
        if app == "mediqom/records":
            missing = [m for m in missing if m not in ("consumers.py", "tasks.py")]
        if app == "mediqom/billing":  # no live channel, no background work, no commands
            missing = [
                m for m in missing if m not in ("consumers.py", "tasks.py", "management/commands")
            ]
        assert missing == [], f"{app} lacks {missing}"
    # Stateless form scoring: no tables, no live channel, no background work.
    stateless = ["services.py", "api/views.py", "api/serializers.py", "api/urls.py"]
    assert [room for room in stateless if not (ROOT / "mediqom/serenity" / room).exists()] == []
    assert not (ROOT / "mediqom/serenity/models.py").exists()


def test_no_user_owned_query_bypasses_for_user_in_selectors():
    """Every `<Model>.objects` chain in a selector starts with for_user() (catalogues aside)."""
    catalogue = {"SubscriptionTier", "ScanPack"}
    offenders = [
        f"{path.relative_to(ROOT)}:{model}.objects.{method}"
        for path in python_files("selectors.py")
        for model, method in re.findall(r"(\w+)\.objects\.(\w+)", path.read_text())
        if model not in catalogue and method != "for_user"
    ]
    assert offenders == []


def test_every_module_uses_postponed_annotations():
    missing = [
        str(p.relative_to(ROOT))
        for p in python_files("*.py")
        if "migrations" not in p.parts
        and p.name != "__init__.py"
        and p.stat().st_size > 0
        and "from __future__ import annotations" not in p.read_text()
    ]
    assert missing == []
