"""Where the time of one P1 request goes: statements, round trips and a pyinstrument profile.

Run: ``.venv/bin/python bench/p1_profile.py [--requests 300] [--html out.html]``.

Seeds the same data as bench/p1.py into a fresh database, then sends the document list
through Django's WSGI handler in-process (the full middleware, DRF, token check, RLS
transaction and audit path, real PostgreSQL), prints the SQL of one request with EXPLAIN
ANALYZE timings, the mean wall time per request, and a pyinstrument profile of the batch.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import p1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--html", default="")
    parser.add_argument("--cprofile", action="store_true", help="also print cProfile's top 30")
    parser.add_argument(
        "--fast",
        action="store_true",
        help="call config.wsgi:application (the fast path in front of Django) as gunicorn does",
    )
    args = parser.parse_args()
    db_name = f"bench_p1_profile_{os.getpid()}"
    url = p1.create_database(db_name)
    secret = secrets.token_urlsafe(48)
    var_dir = tempfile.mkdtemp(prefix="bench-p1-")
    try:
        os.environ.update(p1.ours_env(url, secret, var_dir))
        os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
        os.environ["DB_CONN_MAX_AGE"] = "600"  # as config/gunicorn.conf.py sets it
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=p1.ROOT,
            env=os.environ,
            check=True,
        )
        random.seed(1)
        users = p1.seed(url)
        run(users, args.requests, args.html, args.cprofile, args.fast)
    finally:
        from django.db import connections

        connections.close_all()
        p1.drop_database(db_name)
        shutil.rmtree(var_dir, ignore_errors=True)


def explain_fast(user: Any) -> None:
    """EXPLAIN ANALYZE of the fast path's statement (as role authenticated, rolled back)."""
    import uuid

    from django.db import connection

    from mediqom.audit.services import AuditContext
    from mediqom.auth.tokens import SupabaseUser
    from mediqom.db.rls import _SWITCH, RLS_ROLE, _claims_json
    from mediqom.records import fast_reads

    statement = fast_reads._build(True, True)
    uid = uuid.UUID(str(user))
    caller = SupabaseUser(id=uid, claims={"sub": str(uid), "role": RLS_ROLE})
    audit = AuditContext(actor_id=uid, ip="127.0.0.1", request_id="explain")
    params = fast_reads._parameters(statement, caller, audit, uid)
    connection.ensure_connection()
    raw = connection.connection
    raw.execute("begin")
    raw.execute(_SWITCH, [RLS_ROLE, _claims_json(caller), str(uid)])
    import psycopg

    cursor = psycopg.Cursor(raw)
    cursor.execute("explain analyze " + statement.sql, params)
    print("EXPLAIN ANALYZE of the fast path's statement:")
    for (line,) in cursor.fetchall():
        if not line.startswith(" "):
            print("  " + line)
    raw.execute("rollback")


def run(users: list, requests: int, html: str, cprofile: bool, fast: bool) -> None:  # type: ignore[type-arg]
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from pyinstrument import Profiler

    from mediqom.auth.tokens import mint_token

    tokens = [mint_token(user, lifetime_seconds=7200) for user in users]
    client = Client()

    def call(n: int) -> None:
        user = users[n % len(users)]
        if fast:
            call_wsgi(user, tokens[n % len(users)])
            return
        response = client.get(
            f"/v1/med/profiles/{user}/documents?full=true",
            HTTP_AUTHORIZATION=f"Bearer {tokens[n % len(users)]}",
        )
        assert response.status_code == 200, response.content[:200]

    if fast:
        from config.wsgi import application

        def call_wsgi(user: Any, token: str) -> None:
            environ = {
                "REQUEST_METHOD": "GET",
                "SCRIPT_NAME": "",
                "PATH_INFO": f"/v1/med/profiles/{user}/documents",
                "QUERY_STRING": "full=true",
                "SERVER_NAME": "127.0.0.1",
                "SERVER_PORT": "80",
                "HTTP_HOST": "127.0.0.1",
                "REMOTE_ADDR": "127.0.0.1",
                "HTTP_AUTHORIZATION": f"Bearer {token}",
                "wsgi.url_scheme": "http",
                "wsgi.input": io.BytesIO(b""),
                "wsgi.errors": sys.stderr,
            }
            status: list[str] = []
            body = b"".join(application(environ, lambda s, h, *a: status.append(s)))
            assert status == ["200 OK"], (status, body[:200])

    for n in range(20):
        call(n)
    if fast:
        from mediqom.records import fast_reads

        before = fast_reads.trace.round_trips
        call(0)
        print(f"fast path: {fast_reads.trace.round_trips - before} round trip(s) per request")
        explain_fast(users[0])
    if not fast:  # the fast path's SQL is in mediqom/records/fast_reads.py
        with CaptureQueriesContext(connection) as ctx:
            call(0)
        print(f"{len(ctx.captured_queries)} statements in one request:")
        for query in ctx.captured_queries:
            print(f"  {query['time']}s  {query['sql'][:160]}")
        with connection.cursor() as cursor:
            select = next(q["sql"] for q in ctx.captured_queries if 'FROM "documents"' in q["sql"])
            cursor.execute("begin")
            cursor.execute(
                "select set_config('role', 'authenticated', true), "
                "set_config('request.jwt.claim.sub', %s, true)",
                [str(users[0])],
            )
            cursor.execute("explain analyze " + select)
            print("\nEXPLAIN ANALYZE of the documents query (as role authenticated):")
            for (line,) in cursor.fetchall():
                print("  " + line)
            cursor.execute("rollback")

    start = time.perf_counter()
    for n in range(requests):
        call(n)
    plain = (time.perf_counter() - start) / requests
    print(f"\n{plain * 1000:.2f} ms per request in-process (no profiler, {requests} requests)")
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for n in range(requests):
        call(n)
    profiler.stop()
    print(profiler.output_text(unicode=False, color=False, show_all=False))
    if html:
        Path(html).write_text(profiler.output_html())
    if cprofile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        for n in range(requests):
            call(n)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
