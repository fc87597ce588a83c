"""P1: the authenticated document list, ours against a FastAPI + asyncpg + PyJWT peer, one run.

Run: ``.venv/bin/python bench/p1.py`` (about 3 minutes). Not part of the test run.

It creates a fresh PostgreSQL database, migrates it (RLS policies, audit trigger), seeds 300
users x 20 documents (each with the caller's key grant, one extra grant to another user, one
attachment ref; ~38 KB per `?full=true` answer), then for each server in turn: starts it on
2 workers on a free port, checks its answer is identical to the other side's (same ids, same
grants), that it answers 401 without a valid token and 404 for another user's profile, warms
up, and drives it with wrk at each concurrency (random user per request, Bearer HS256).
It prints req/s, p50 and p99 per server and the ratios ours ÷ peer and audited ÷ unaudited.

Servers (``--servers``, comma-separated): ``ours`` (the README's production command),
``ours-noaudit`` (the same with the audit writes replaced by no-ops, bench only:
bench/peers/ours_noaudit.py), ``peer``, the production command with other settings
(``ours-t1``/``ours-t4``/``ours-t8``/``ours-t16`` threads, ``ours-pool`` psycopg pool instead
of persistent connections, ``ours-noreuse`` a connection per request, ``ours-nocheck`` no
health check;
``ours-noaudit-<variant>`` combines) and other servers for ours: ``gunicorn-sync``,
``gunicorn-gthread``, ``gunicorn`` (the production command before granian: threaded,
config/gunicorn.conf.py), ``uvicorn``, ``daphne``; ``baseline``, the production command of
the checkout given by ``--baseline`` (before/after in one run). Persistent
connections hold workers x threads PostgreSQL connections per server: run few at once.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import platform
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
USERS = 300
DOCS_PER_USER = 20
WORKERS = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def b64ish(size: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    return "".join(random.choice(alphabet) for _ in range(size))


# ---------------------------------------------------------------- database


def create_database(name: str) -> str:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}"')
        conn.execute(f'create database "{name}"')
    return f"{PG}/{name}"


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


def seed(url: str) -> list[uuid.UUID]:
    """300 users, each with its own profile and 20 documents it holds a grant for."""
    import psycopg

    users = [uuid.uuid4() for _ in range(USERS)]
    profiles, documents, keys = [], [], []
    base = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    for n, user in enumerate(users):
        neighbour = users[(n + 1) % USERS]
        profiles.append((user, user, user, f"user{n}@example.test", datetime.now(UTC)))
        for d in range(DOCS_PER_USER):
            doc = uuid.uuid4()
            at = datetime.fromtimestamp(base + n * 100 + d, UTC)
            ref = f"{user}/{uuid.uuid4()}"
            documents.append((doc, at, at, b64ish(540), b64ish(540), user, "document", user, [ref]))
            keys.append((uuid.uuid4(), at, doc, user, user, b64ish(344), user))
            if d == 0:  # another recipient's grant: must never be listed to the caller
                keys.append((uuid.uuid4(), at, doc, user, neighbour, b64ish(344), user))
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.executemany(
            "insert into profiles (id, auth_id, owner_id, email, subscription, language,"
            " updated_at) values (%s, %s, %s, %s, 'individual', 'en', %s)",
            profiles,
        )
        cur.executemany(
            "insert into documents (id, created_at, updated_at, content, metadata, user_id, type,"
            " author_id, attachments) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            documents,
        )
        cur.executemany(
            "insert into keys (id, created_at, document_id, owner_id, user_id, key, author_id)"
            " values (%s, %s, %s, %s, %s, %s, %s)",
            keys,
        )
        cur.execute("analyze")
    return users


def audit_rows(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("select count(*) from audit_log").fetchone()
    return int(row[0]) if row else 0


# ---------------------------------------------------------------- servers


@dataclass
class Server:
    name: str
    argv: list[str]
    env: dict[str, str]
    root: Path = ROOT  # the checkout the server runs from (`--baseline`: another one)


def ours_env(url: str, secret: str, var_dir: str) -> dict[str, str]:
    """Production settings (TLS is the proxy's job, so no HTTPS redirect on loopback)."""
    return {
        "MEDIQOM_ENV": "production",
        "DATABASE_URL": url,
        "SUPABASE_JWT_SECRET": secret,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "MEDIQOM_FIELD_ENCRYPTION_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "SECURE_SSL_REDIRECT": "false",
        "MEDIQOM_VAR_DIR": var_dir,
        "MEDIQOM_STATIC_ROOT": var_dir + "/static",
        "MEDIQOM_LOG_LEVEL": "WARNING",
        "WEB_CONCURRENCY": str(WORKERS),
    }


def production_argv(port: int) -> list[str]:
    """The README's production command for REST (scripts/serve-rest.sh: granian, WSGI)."""
    return [str(ROOT / "scripts" / "serve-rest.sh"), "--port", str(port)]


def gunicorn_argv(port: int) -> list[str]:
    """The production command before granian (threaded gunicorn, config/gunicorn.conf.py)."""
    return [
        str(VENV_BIN / "gunicorn"),
        "config.wsgi:application",
        "--config",
        str(ROOT / "config" / "gunicorn.conf.py"),
        "--bind",
        f"127.0.0.1:{port}",
    ]


# The production command with other connection settings.
ENV_VARIANTS = {
    "ours-t4": {"REST_THREADS": "4"},
    "ours-t8": {"REST_THREADS": "8"},
    "ours-t16": {"REST_THREADS": "16"},
    "ours-t1": {"REST_THREADS": "1"},
    "ours-pool": {"DB_CONN_MAX_AGE": "0", "DB_POOL_MAX_SIZE": "4"},
    "ours-noreuse": {"DB_CONN_MAX_AGE": "0"},
    "ours-nocheck": {"DB_CONN_HEALTH_CHECKS": "false"},
}


def server_for(
    name: str, port: int, url: str, secret: str, var_dir: str, baseline: Path | None = None
) -> Server:
    env = ours_env(url, secret, var_dir)
    if name == "baseline":
        if baseline is None:
            raise SystemExit("the server 'baseline' needs --baseline PATH")
        argv = [str(baseline / "scripts" / "serve-rest.sh"), "--port", str(port)]
        return Server(name, argv, env, root=baseline)
    bind = f"127.0.0.1:{port}"
    gunicorn = [str(VENV_BIN / "gunicorn"), "-w", str(WORKERS), "-b", bind]
    variants: dict[str, list[str]] = {
        "ours": production_argv(port),
        "gunicorn-sync": [*gunicorn, "config.wsgi:application"],
        "gunicorn-gthread": [
            *gunicorn,
            "-k",
            "gthread",
            "--threads",
            "4",
            "config.wsgi:application",
        ],
        "uvicorn": [
            str(VENV_BIN / "uvicorn"),
            "config.asgi:application",
            "--workers",
            str(WORKERS),
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        "daphne": [
            str(VENV_BIN / "daphne"),
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "config.asgi:application",
        ],
        "gunicorn": gunicorn_argv(port),
    }
    if name in ENV_VARIANTS:
        return Server(name, production_argv(port), {**env, **ENV_VARIANTS[name]})
    if name.startswith("ours-noaudit"):
        env = {**env, "MEDIQOM_WSGI_APP": "bench.peers.ours_noaudit:application"}
        return Server(
            name, production_argv(port), {**env, **ENV_VARIANTS.get("ours" + name[12:], {})}
        )
    if name == "peer":
        return Server(
            name,
            [
                str(VENV_BIN / "uvicorn"),
                "bench.peers.fastapi_peer:app",
                "--workers",
                str(WORKERS),
                "--port",
                str(port),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            {
                "PEER_DATABASE_URL": url.replace("postgres://", "postgresql://"),
                "PEER_JWT_SECRET": secret,
            },
        )
    # Each serving variant with its right connection reuse: per-thread persistent connections
    # for WSGI, psycopg's pool for ASGI (persistent connections leak under ASGI's threads).
    if name in ("uvicorn", "daphne"):
        env = {**env, "DB_POOL_MAX_SIZE": "4"}
    else:
        env = {**env, "DB_CONN_MAX_AGE": "600"}
    return Server(name, variants[name], env)


def start(server: Server, base: str, probe: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, **server.env, "PYTHONPATH": str(server.root)}
    proc = subprocess.Popen(
        server.argv,
        cwd=server.root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            status, _ = get(base + probe, None)
            if status in (200, 401):
                return proc
        except OSError:
            pass
        time.sleep(0.3)
    stop(proc)
    raise RuntimeError(f"{server.name} did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def get(url: str, token: str | None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)  # noqa: S310 - loopback http only
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# ---------------------------------------------------------------- wrk


def lua_script(path: Path, users: list[uuid.UUID], tokens: list[str]) -> None:
    lines = ["local reqs = {}"]
    for user, token in zip(users, tokens, strict=True):
        lines.append(
            f'reqs[#reqs+1] = wrk.format("GET", "/v1/med/profiles/{user}/documents?full=true",'
            f' {{["Host"] = "127.0.0.1", ["Authorization"] = "Bearer {token}"}})'
        )
    lines += [
        "math.randomseed(os.time())",
        "request = function() return reqs[math.random(#reqs)] end",
    ]
    path.write_text("\n".join(lines) + "\n")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(text)
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass
class Result:
    rps: float
    p50: float
    p99: float
    errors: int
    requests: int = 0


def median_result(results: list[Result]) -> Result:
    def mid(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    return Result(
        rps=mid([r.rps for r in results]),
        p50=mid([r.p50 for r in results]),
        p99=mid([r.p99 for r in results]),
        errors=sum(r.errors for r in results),
        requests=sum(r.requests for r in results),
    )


def wrk(base: str, script: Path, conns: int, seconds: int) -> Result:
    out = subprocess.run(
        [
            "wrk",
            f"-t{min(2, conns)}",
            f"-c{conns}",
            f"-d{seconds}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(script),
            base,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(bad.group(1)) if bad else 0) + (sum(map(int, sock.groups())) if sock else 0)
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return Result(rps, p50, p99, errors, total)


# ---------------------------------------------------------------- checks


def normalise(body: bytes) -> Any:
    items = json.loads(body)
    return sorted(
        (
            item["id"],
            item["metadata"],
            item["content"],
            item["type"],
            item["user_id"],
            item["author_id"],
            tuple(item["attachments"]),
            tuple((k["id"], k["key"], k["user_id"], k["owner_id"]) for k in item["keys"]),
        )
        for item in items
    )


def check(base: str, users: list[uuid.UUID], tokens: list[str]) -> tuple[Any, int]:
    path = f"/v1/med/profiles/{users[0]}/documents?full=true"
    status, body = get(base + path, tokens[0])
    if status != 200:
        raise RuntimeError(f"{base}: expected 200, got {status}: {body[:200]!r}")
    listing = normalise(body)
    if len(listing) != DOCS_PER_USER or any(len(item[-1]) != 1 for item in listing):
        raise RuntimeError(f"{base}: wrong listing ({len(listing)} items)")
    for token in (None, "not-a-token", tokens[0][:-4] + "AAAA"):
        status, _ = get(base + path, token)
        if status != 401:
            raise RuntimeError(f"{base}: expected 401 for a bad token, got {status}")
    status, _ = get(base + path, tokens[1])
    if status != 404:
        raise RuntimeError(f"{base}: expected 404 for another user's profile, got {status}")
    return listing, len(body)


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--servers", default="ours,ours-noaudit,peer")
    parser.add_argument("--conns", default="16,64")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout (e.g. `git worktree add /tmp/base <rev>`) whose production"
        " command is the server 'baseline', for before/after in one run (same migrations)",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    names = [name.strip() for name in args.servers.split(",") if name.strip()]
    conns = [int(c) for c in args.conns.split(",")]

    db_name = f"bench_p1_{os.getpid()}"
    url = create_database(db_name)
    secret = secrets.token_urlsafe(48)
    var_dir = tempfile.mkdtemp(prefix="bench-p1-")
    try:
        env = {**os.environ, **ours_env(url, secret, var_dir)}
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        random.seed(1)
        users = seed(url)
        os.environ.update(
            {"SUPABASE_JWT_SECRET": secret, "DJANGO_SETTINGS_MODULE": "config.settings"}
        )
        for key, value in ours_env(url, secret, var_dir).items():
            os.environ[key] = value
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from mediqom.auth.tokens import mint_token

        tokens = [
            mint_token(user, email=f"user{n}@example.test", lifetime_seconds=7200)
            for n, user in enumerate(users)
        ]
        script = Path(var_dir) / "p1.lua"
        lua_script(script, users, tokens)

        # All servers run side by side (idle ones cost nothing); the wrk runs are interleaved
        # round by round so that load drift on a shared machine hits every server alike.
        procs: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
        runs: dict[str, dict[int, list[Result]]] = {name: {c: [] for c in conns} for name in names}
        audit_per_request: dict[str, list[float]] = {name: [] for name in names}
        reference: Any = None
        size = 0
        try:
            for name in names:
                port = free_port()
                base = f"http://127.0.0.1:{port}"
                server = server_for(name, port, url, secret, var_dir, args.baseline)
                procs[name] = (start(server, base, f"/v1/med/profiles/{users[0]}/documents"), base)
                listing, size = check(base, users, tokens)
                if reference is None:
                    reference = listing
                elif listing != reference:
                    raise RuntimeError(f"{name} answers differently from {names[0]}")
                wrk(base, script, conns[0], args.warmup)
            for round_no in range(args.rounds):
                for c in conns:
                    for name in names:
                        base = procs[name][1]
                        before = audit_rows(url)
                        result = wrk(base, script, c, args.seconds)
                        time.sleep(2)  # requests still queued when wrk stops finish first
                        rows = audit_rows(url) - before
                        audit_per_request[name].append(rows / max(result.requests, 1))
                        runs[name][c].append(result)
                        print(f"  round {round_no + 1} {name} c={c}: {result}", file=sys.stderr)
        finally:
            for proc, _ in procs.values():
                stop(proc)
        results = {name: {c: median_result(by_c[c]) for c in conns} for name, by_c in runs.items()}
    finally:
        drop_database(db_name)
        shutil.rmtree(var_dir, ignore_errors=True)

    cpu = "?"
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    print(
        f"\nP1 {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {cpu}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; {USERS} users x {DOCS_PER_USER} documents, "
        f"{size / 1024:.1f} KB per response, {WORKERS} workers each, wrk -t2, "
        f"median of {args.rounds} interleaved {args.seconds}s runs\n"
    )
    print("| server | c | req/s | p50 ms | p99 ms | errors | audit rows/request |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, by_c in results.items():
        audited = sum(audit_per_request[name]) / max(len(audit_per_request[name]), 1)
        for c, r in by_c.items():
            print(
                f"| {name} | {c} | {r.rps:,.0f} | {r.p50:.1f} | {r.p99:.1f} | {r.errors} "
                f"| {audited:.1f} |"
            )
    print()
    for c in conns:
        peer = results.get("peer", {}).get(c)
        for name, by_c in results.items():
            if name == "peer" or c not in by_c:
                continue
            r = by_c[c]
            if peer:
                print(
                    f"c={c}: {name} ÷ peer = {r.rps / peer.rps:.2f} (req/s), "
                    f"p99 {r.p99:.1f} vs {peer.p99:.1f} ms"
                )
        if "ours" in results and "ours-noaudit" in results:
            ratio = results["ours"][c].rps / results["ours-noaudit"][c].rps
            print(f"c={c}: audited ÷ unaudited = {ratio:.2f}")
        if "ours" in results and "baseline" in results:
            ratio = results["ours"][c].rps / results["baseline"][c].rps
            print(f"c={c}: ours ÷ baseline = {ratio:.2f}")


if __name__ == "__main__":
    main()
