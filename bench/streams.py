"""Benchmark: live SSE fan-out, ours (mediqom/streams) vs a FastAPI + sse-starlette + Redis
pub/sub peer (bench/peers/sse_peer.py), side by side in one run.

Run: ``.venv/bin/python bench/streams.py`` (PostgreSQL and Redis on 127.0.0.1; about 1 minute
per target). Not part of the test run. Options: --clients 2000 --streams 50 --rate 2
--seconds 20 --producers 1 --targets ours-uvicorn-1,peer (also ours-uvicorn-2, ours-daphne-1,
peer-2: the peer on two workers; a target may be listed again, e.g.
peer,ours-uvicorn-1,peer,ours-uvicorn-1; each ours-* is compared with the peer run before it).

Each target is one server started on a socket bound here; `--clients` SSE connections (two
client processes, raw HTTP/1.1) spread over `--streams` streams; then a producer emits `--rate`
events per second per stream for `--seconds` seconds. Ours goes the real way: `stream_append`
(encrypt, insert, commit) then publish on the Redis pub/sub channel layer; the peer only
publishes to Redis (no storage, no replay). Latency = producer call → event parsed by the
client (same clock). RSS/conn = (server RSS with every client connected - RSS before) / clients.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

JWT_SECRET = "bench-only-jwt-secret-0123456789-0123456789-0123456789"  # noqa: S105
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
PG = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")


# --------------------------------------------------------------------------- clients


async def _client(port: int, path: str, token: str, stats: dict[str, Any], stop: Any) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Accept: text/event-stream\r\n\r\n".encode()
    )
    status = int((await reader.readline()).split()[1])
    while (await reader.readline()) not in (b"\r\n", b""):
        pass
    if status != 200:
        stats["errors"] += 1
        return
    stats["connected"] += 1
    pending = b""
    latencies = stats["latencies"]
    try:
        while not stop.is_set():
            size = int((await reader.readline()).strip() or b"0", 16)
            if size == 0:
                break
            # sse-starlette separates lines with CRLF, we with LF
            pending += (await reader.readexactly(size + 2))[:-2].replace(b"\r\n", b"\n")
            while b"\n\n" in pending:
                frame, pending = pending.split(b"\n\n", 1)
                for line in frame.split(b"\n"):
                    if line.startswith(b"data: "):
                        sent = json.loads(line[6:])["data"]["sent"]
                        latencies.append((time.time_ns() - sent) / 1e6)
    except (OSError, asyncio.IncompleteReadError):
        stats["errors"] += 1
    finally:
        stats["connected"] -= 1
        writer.close()


async def _clients_main(port: int, paths: list[str], token: str) -> None:
    stats: dict[str, Any] = {"connected": 0, "errors": 0, "latencies": []}
    stop = asyncio.Event()
    tasks = []
    for index, path in enumerate(paths):
        tasks.append(asyncio.ensure_future(_client(port, path, token, stats, stop)))
        if index % 100 == 99:
            await asyncio.sleep(0.05)
    deadline = time.monotonic() + 180
    waiting = True
    while waiting:  # polling two counters, once at start
        waiting = stats["connected"] + stats["errors"] < len(paths) and time.monotonic() < deadline
        await asyncio.sleep(0.1)
    print(json.dumps({"ready": stats["connected"], "errors": stats["errors"]}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # "stop"
    stop.set()
    print(json.dumps({"latencies": stats["latencies"], "errors": stats["errors"]}), flush=True)
    os._exit(0)


# --------------------------------------------------------------------------- servers


@dataclass
class Target:
    name: str
    command: list[str]
    path: str  # with {key}


def _targets(fd: int) -> dict[str, Target]:
    profile = os.environ.get("BENCH_PROFILE")  # a file: profile the server with pyinstrument
    python = (
        [sys.executable, "-m", "pyinstrument", "-r", "text", "-o", profile]
        if profile
        else [sys.executable]
    )
    uvicorn = [*python, "-m", "uvicorn", "--fd", str(fd), "--no-access-log"]
    uvicorn += ["--log-level", "warning"]
    ours_path = "/v1/streams/{key}?since=1"
    peer_app = ["--app-dir", str(ROOT / "bench" / "peers"), "sse_peer:app"]
    return {
        "ours-uvicorn-1": Target(
            "ours-uvicorn-1", [*uvicorn, "config.asgi:application"], ours_path
        ),
        "ours-uvicorn-2": Target(
            "ours-uvicorn-2", [*uvicorn, "--workers", "2", "config.asgi:application"], ours_path
        ),
        "ours-daphne-1": Target(
            "ours-daphne-1",
            [sys.executable, "-m", "daphne", "--fd", str(fd), "config.asgi:application"],
            ours_path,
        ),
        "peer": Target("peer", [*uvicorn, *peer_app], "/streams/{key}"),
        "peer-2": Target("peer-2", [*uvicorn, "--workers", "2", *peer_app], "/streams/{key}"),
    }


def _rss_kb(pid: int) -> int:
    """RSS of a process and all its descendants (uvicorn --workers forks)."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration):
            continue
    return total


def _cpu_seconds(pid: int) -> float:
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return total


def _wait_healthy(port: int, proc: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not start")


# --------------------------------------------------------------------------- producers


class Producer(threading.Thread):
    def __init__(self, emit: Any, keys: list[str], rate: float, seconds: float) -> None:
        super().__init__(daemon=True)
        self.emit, self.keys, self.rate, self.seconds = emit, keys, rate, seconds
        self.sent: dict[str, int] = dict.fromkeys(keys, 0)
        self.late = 0
        self.calls: list[float] = []  # ms per emit (ours: encrypt + insert + commit + publish)

    def run(self) -> None:
        interval = 1 / (self.rate * len(self.keys))
        count = int(self.seconds * self.rate * len(self.keys))
        started = time.monotonic()
        try:
            self._emit_all(count, interval, started)
        finally:
            if "django.db" in sys.modules:  # this thread's database connection
                from django.db import connections

                connections.close_all()

    def _emit_all(self, count: int, interval: float, started: float) -> None:
        for index in range(count):
            key = self.keys[index % len(self.keys)]
            payload = {"type": "bench", "data": {"sent": time.time_ns()}, "timestamp": 0}
            began = time.perf_counter()
            self.emit(key, payload)
            self.calls.append((time.perf_counter() - began) * 1000)
            self.sent[key] += 1
            delay = started + (index + 1) * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                self.late += 1


def run_target(
    name: str, env: dict[str, str], args: argparse.Namespace, owner: uuid.UUID, token: str
) -> dict[str, Any]:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    sock.set_inheritable(True)
    port = sock.getsockname()[1]
    target = _targets(sock.fileno())[name]
    run_id = uuid.uuid4().hex[:8]
    keys = [f"bench:{run_id}-{i}" for i in range(args.streams)]
    if name.startswith("ours"):
        from django.db import connections

        from mediqom.streams.services import stream_append

        for key in keys:
            stream_append(key=key, owner_id=owner, payload={"type": "hello", "timestamp": 0})

        def emit(key: str, payload: dict[str, Any]) -> None:
            stream_append(key=key, owner_id=owner, payload=payload)

        def close() -> None:
            connections.close_all()
    else:
        import redis

        client = redis.from_url(REDIS_URL)

        def emit(key: str, payload: dict[str, Any]) -> None:
            client.publish(f"peer:{key}", json.dumps(payload))

        def close() -> None:
            client.close()

    log = open(ROOT / "var" / f"bench-streams-{name}.log", "wb")  # noqa: SIM115
    server = subprocess.Popen(
        target.command, cwd=ROOT, env=env, pass_fds=(sock.fileno(),), stdout=log, stderr=log
    )
    try:
        _wait_healthy(port, server)
        time.sleep(1)
        rss_before = _rss_kb(server.pid)
        paths = [target.path.format(key=keys[i % len(keys)]) for i in range(args.clients)]
        halves = [paths[0::2], paths[1::2]]
        clients = []
        started = time.monotonic()
        for half in halves:
            spec = ROOT / "var" / f"bench-clients-{uuid.uuid4().hex[:6]}.json"
            spec.write_text(json.dumps({"port": port, "paths": half, "token": token}))
            clients.append(
                subprocess.Popen(
                    [sys.executable, __file__, "--client", str(spec)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT,
                )
            )  # fmt: skip
        ready = [json.loads(c.stdout.readline()) for c in clients]  # type: ignore[union-attr]
        connect_seconds = time.monotonic() - started
        connected = sum(r["ready"] for r in ready)
        time.sleep(2)
        rss_connected = _rss_kb(server.pid)
        cpu_before = _cpu_seconds(server.pid)
        # --producers threads, each pacing its share of the streams
        producers = [
            Producer(emit, keys[i :: args.producers], args.rate, args.seconds)
            for i in range(args.producers)
        ]
        for producer in producers:
            producer.start()
        for producer in producers:
            producer.join()
        cpu = _cpu_seconds(server.pid) - cpu_before
        time.sleep(3)
        results = []
        for c in clients:
            c.stdin.write(b"stop\n")  # type: ignore[union-attr]
            c.stdin.flush()  # type: ignore[union-attr]
            results.append(json.loads(c.stdout.readline()))  # type: ignore[union-attr]
            c.wait()
        close()
    finally:
        if os.environ.get("BENCH_PROFILE"):
            server.send_signal(signal.SIGINT)  # pyinstrument writes its report on SIGINT
        else:
            server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        sock.close()
        log.close()
    latencies = sorted(x for r in results for x in r["latencies"])
    per_stream = args.clients / args.streams
    expected = sum(sum(p.sent.values()) for p in producers) * per_stream
    calls = sorted(x for p in producers for x in p.calls)
    return {
        "target": name,
        "connected": connected,
        "connect_s": connect_seconds,
        "delivered_pct": 100 * len(latencies) / expected if expected else 0,
        "p50_ms": statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan"),
        "rss_per_conn_kb": (rss_connected - rss_before) / max(connected, 1),
        "rss_mb": rss_connected / 1024,
        "cpu_pct": 100 * cpu / args.seconds,
        "late": sum(p.late for p in producers),
        "emit_p50_ms": statistics.median(calls),
        "emit_p99_ms": calls[int(len(calls) * 0.99) - 1],
        "errors": sum(r["errors"] for r in results),
        "load": os.getloadavg()[0],
    }


def _setup_django(db_name: str) -> dict[str, str]:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'create database "{db_name}"')
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "MEDIQOM_ENV": "test",
        "DATABASE_URL": f"{PG}/{db_name}",
        "REDIS_URL": REDIS_URL,
        "SUPABASE_JWT_SECRET": JWT_SECRET,
        "MEDIQOM_FIELD_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
        "MEDIQOM_LOG_LEVEL": "WARNING",
        "MEDIQOM_VAR_DIR": str(ROOT / "var" / "bench"),
        "PEER_JWT_SECRET": JWT_SECRET,
        "PEER_REDIS_URL": REDIS_URL,
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return env


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--client")
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--rate", type=float, default=2)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--targets", default="ours-uvicorn-1,peer")
    parser.add_argument("--producers", type=int, default=1, help="producer threads")
    args = parser.parse_args()
    if args.client:
        spec = json.loads(Path(args.client).read_text())
        Path(args.client).unlink()
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        asyncio.run(_clients_main(spec["port"], spec["paths"], spec["token"]))
        return
    (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
    db_name = f"bench_streams_{os.getpid()}"
    env = _setup_django(db_name)
    from mediqom.auth.tokens import mint_token

    owner = uuid.uuid4()
    token = mint_token(owner, email="bench@example.test", lifetime_seconds=3600)
    rows = []
    try:
        for name in args.targets.split(","):
            print(f"... {name}", file=sys.stderr, flush=True)
            rows.append(run_target(name, env, args, owner, token))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    finally:
        from django.db import connections

        connections.close_all()
        import psycopg

        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            conn.execute(f'drop database if exists "{db_name}" with (force)')
    load = os.getloadavg()
    print(
        f"\nMeasured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load average "
        f"{load[0]:.1f}; {args.clients} clients x {args.streams} streams x {args.rate} ev/s "
        f"for {args.seconds:.0f} s\n"
    )
    print("| target | connected | delivered | p50 ms | p99 ms | RSS/conn KB | server RSS MB "
          "| server CPU | connect s | emit p50/p99 ms | late emits | load |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['target']} | {r['connected']} | {r['delivered_pct']:.2f}% | {r['p50_ms']:.1f} "
            f"| {r['p99_ms']:.1f} | {r['rss_per_conn_kb']:.1f} | {r['rss_mb']:.0f} "
            f"| {r['cpu_pct']:.0f}% | {r['connect_s']:.1f} "
            f"| {r['emit_p50_ms']:.2f}/{r['emit_p99_ms']:.2f} | {r['late']} | {r['load']:.1f} |"
        )
    if any(r["target"].startswith("peer") for r in rows):
        # a target listed more than once (--targets peer,ours-uvicorn-1,peer,ours-uvicorn-1)
        # is compared with the peer run nearest before it (else the first one), so that each
        # ratio comes from two runs minutes apart under about the same machine load
        print("\nratios ours/peer (p99 latency, RSS/conn; below 1 means ours is better):")
        peer = next(r for r in rows if r["target"].startswith("peer"))
        for r in rows:
            if r["target"].startswith("peer"):
                peer = r
                continue
            print(
                f"- {r['target']} / {peer['target']}: p99 {r['p99_ms'] / peer['p99_ms']:.2f}, "
                f"p50 {r['p50_ms'] / peer['p50_ms']:.2f}, "
                f"RSS/conn {r['rss_per_conn_kb'] / peer['rss_per_conn_kb']:.2f}, "
                f"delivered {r['delivered_pct']:.2f}% vs {peer['delivered_pct']:.2f}%"
            )


if __name__ == "__main__":
    main()
