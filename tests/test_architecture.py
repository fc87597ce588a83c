"""Structural rules of the code base (style guide): checked, not just written down."""

from __future__ import annotations

import ast
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


# ----------------------------------------------------------------- tests check the status first

REQUEST_METHODS = {"get", "post", "put", "patch", "delete", "options", "head"}


def _is_test_request(node: ast.AST) -> bool:
    """`<client>.get("/…")`-like calls (a path literal first), not RequestFactory ones."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return False
    if node.func.attr not in REQUEST_METHODS or not node.args:
        return False
    receiver = node.func.value
    if isinstance(receiver, ast.Call) and getattr(receiver.func, "id", "") == "RequestFactory":
        return False
    first = node.args[0]
    if isinstance(first, ast.JoinedStr) and first.values:
        first = first.values[0]
    return isinstance(first, ast.Constant) and str(first.value).startswith("/")


def unchecked_requests(source: str, filename: str = "<test>") -> list[str]:
    """Requests whose status no assertion reads: ignored results, `.json()`/`.content` read
    straight off the call, and responses kept in a name never asked for `.status_code` (nor
    passed to `ok()`)."""
    found = []
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        checked = {
            node.value.id
            for node in ast.walk(function)
            if isinstance(node, ast.Attribute)
            and node.attr == "status_code"
            and isinstance(node.value, ast.Name)
        } | {
            arg.id
            for node in ast.walk(function)
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "ok"
            for arg in node.args[:1]
            if isinstance(arg, ast.Name)
        }
        for node in ast.walk(function):
            where = f"{filename}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Expr) and _is_test_request(node.value):
                found.append(f"{where}: the response is ignored")
            elif isinstance(node, ast.Assign) and _is_test_request(node.value):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
                found += [
                    f"{where}: {n}.status_code is never checked" for n in names if n not in checked
                ]
            elif (
                isinstance(node, ast.Attribute)
                and node.attr in {"json", "content", "headers"}
                and _is_test_request(node.value)
            ):
                found.append(f"{where}: .{node.attr} read before the status")
    return sorted(found, key=lambda finding: int(finding.split(":")[1]))


def test_every_test_request_has_its_status_checked():
    """Wrap a request in `ok(response, status=200)` (tests/conftest.py) or assert its
    `.status_code` before reading its body or the database."""
    offenders = [
        finding
        for path in sorted((ROOT / "tests").rglob("test_*.py"))
        for finding in unchecked_requests(path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert offenders == []


def test_the_status_rule_finds_unchecked_requests():
    sample = """
def test_sample(client):
    client.post("/v1/a", {})
    body = client.get(f"/v1/b/{1}").json()
    kept = client.delete("/v1/c")
    fine = client.get("/v1/d")
    assert fine.status_code == 200
    assert ok(client.get("/v1/e")).json() == {}
    also = client.get("/v1/f")
    ok(also, 404)
    request = RequestFactory().get("/")
"""
    assert [f.split(": ", 1)[1] for f in unchecked_requests(sample)] == [
        "the response is ignored",
        ".json read before the status",
        "kept.status_code is never checked",
    ]
