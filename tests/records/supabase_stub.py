"""A tiny local stand-in for Supabase Storage and the GoTrue admin API on 127.0.0.1, so the real
`supabase` client code runs in tests (no network, no mocks of the client)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlparse


class SupabaseStub:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.deleted_users: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self.fail_storage = False
        self.url = ""


def _handler(stub: SupabaseStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _route(self) -> list[str]:
            path = urlparse(self.path).path
            stub.requests.append((self.command, path))
            return [unquote(part) for part in path.strip("/").split("/")]

        def _unauthorized(self) -> bool:
            if self.headers.get("Authorization") != "Bearer service-role-key":
                self._json(403, {"statusCode": "403", "error": "Unauthorized", "message": "x"})
                return True
            return False

        def _storage_down(self) -> bool:
            if stub.fail_storage:
                self._json(500, {"statusCode": "500", "error": "internal", "message": "down"})
                return True
            return False

        def do_POST(self) -> None:
            parts = self._route()
            if self._unauthorized() or self._storage_down():
                return
            body = self._body()
            if parts[:4] == ["storage", "v1", "object", "list"]:
                bucket = parts[4]
                query = json.loads(body)
                prefix = query.get("prefix") or ""
                folder = f"{prefix.rstrip('/')}/" if prefix else ""
                search = query.get("search") or ""
                names = sorted(
                    name[len(folder) :]
                    for (b, name) in stub.objects
                    if b == bucket and name.startswith(folder) and "/" not in name[len(folder) :]
                )
                names = [n for n in names if n.startswith(search)]
                start, limit = int(query.get("offset", 0)), int(query.get("limit", 100))
                page = [{"name": n, "id": f"id-{n}"} for n in names[start : start + limit]]
                self._json(200, page)
                return
            if parts[:3] == ["storage", "v1", "object"]:
                bucket, name = parts[3], "/".join(parts[4:])
                message = BytesParser(policy=HTTP).parsebytes(
                    f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body
                )
                file_part = next(
                    p
                    for p in message.iter_parts()
                    if p.get_param("name", header="content-disposition") == "file"
                )
                if (bucket, name) in stub.objects and self.headers.get("x-upsert") != "true":
                    self._json(409, {"statusCode": "409", "error": "Duplicate", "message": "x"})
                    return
                stub.objects[(bucket, name)] = (
                    file_part.get_payload(decode=True),
                    file_part.get_content_type(),
                )
                self._json(200, {"Key": f"{bucket}/{name}", "Id": "1"})
                return
            self._json(404, {"statusCode": "404", "error": "not_found", "message": "route"})

        def do_GET(self) -> None:
            parts = self._route()
            if self._unauthorized() or self._storage_down():
                return
            if parts[:3] == ["storage", "v1", "object"]:
                key = (parts[3], "/".join(parts[4:]))
                if key not in stub.objects:
                    self._json(400, {"statusCode": "404", "error": "not_found",
                                     "message": "Object not found"})  # fmt: skip
                    return
                data, content_type = stub.objects[key]
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self._json(404, {"statusCode": "404", "error": "not_found", "message": "route"})

        def do_DELETE(self) -> None:
            parts = self._route()
            if self._unauthorized():
                return
            body = self._body()
            if parts[:4] == ["auth", "v1", "admin", "users"]:
                stub.deleted_users.append(parts[4])
                self._json(200, {})
                return
            if self._storage_down():
                return
            if parts[:3] == ["storage", "v1", "object"]:
                bucket = parts[3]
                removed = []
                for name in json.loads(body)["prefixes"]:
                    if stub.objects.pop((bucket, name), None) is not None:
                        removed.append({"name": name, "bucket_id": bucket})
                self._json(200, removed)
                return
            self._json(404, {"statusCode": "404", "error": "not_found", "message": "route"})

    return Handler


@contextmanager
def running_stub() -> Iterator[SupabaseStub]:
    stub = SupabaseStub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
