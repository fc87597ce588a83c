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
    for app in ["mediqom/records", "sessions_app", "imports_app", "crypto_app"]:
        missing = [room for room in ROOMS if not (ROOT / app / room).exists()]
        if app == "mediqom/records":
            missing = [m for m in missing if m not in ("consumers.py", "tasks.py")]
        assert missing == [], f"{app} lacks {missing}"


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


UNSCOPED_REASON = re.compile(r"#\s*unscoped:\s*\S")


def unscoped_manager_uses(path: Path, root: Path = ROOT) -> list[str]:
    """`<Model>.objects.<method>` reads, updates and deletes that do not start with for_user()
    and have no `# unscoped: <why>` comment on their line or the line above it.
    Inserts (create, bulk_create) are checked by the RLS insert policies instead; catalogue
    tables hold no user data."""
    catalogue = {"SubscriptionTier", "ScanPack"}
    allowed = {"for_user", "create", "bulk_create"}
    text = path.read_text()
    lines = text.splitlines()
    offenders = []
    for match in re.finditer(r"(\w+)\.objects\s*\.\s*(\w+)", text):
        model, method = match.groups()
        if model in catalogue or method in allowed:
            continue
        line = text.count("\n", 0, match.start())
        if not any(UNSCOPED_REASON.search(near) for near in lines[max(line - 1, 0) : line + 1]):
            offenders.append(f"{path.relative_to(root)}:{line + 1}:{model}.objects.{method}")
    return offenders


def test_services_and_quotas_use_unscoped_managers_only_where_a_comment_says_why():
    files = python_files("services.py") + python_files("quotas.py")
    assert any(p.name == "quotas.py" for p in files)
    assert [o for path in files for o in unscoped_manager_uses(path)] == []


def test_the_unscoped_manager_rule_catches_chains_split_over_lines(tmp_path):
    sample = tmp_path / "services.py"
    sample.write_text(
        """a = Profile.objects.for_user(user).get(pk=1)
b = Profile.objects.create(id=1)
c = (Document.objects
    .filter(pk=1))
# unscoped: recovery by email
d = PrivateKey.objects.filter(email=e)
e = Key.objects.filter(pk=2).delete()  # no reason given
"""
    )
    found = [o.split(":", 2)[2] for o in unscoped_manager_uses(sample, tmp_path)]
    assert found == ["Document.objects.filter", "Key.objects.filter"]


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
