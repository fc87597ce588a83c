"""Pluggable object storage for attachments and avatars (contract §2.5, §5.7).

`local` keeps objects as files under MEDIA_ROOT/<bucket>/; `supabase` uses the Supabase Storage
buckets through the `supabase` client and the service-role key. Object names are checked here
as well as by the services (defence in depth): relative, no empty/dot segments, a small safe
alphabet, and for local files a resolved path that stays inside the bucket directory.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx
from django.conf import settings
from storage3.utils import StorageException

from mediqom.errors import ApiError
from mediqom.logging import get_logger

if TYPE_CHECKING:
    from supabase import Client

log = get_logger("api")

BUCKET_ATTACHMENTS = "attachments"
BUCKET_AVATARS = "avatars"
BUCKETS = (BUCKET_ATTACHMENTS, BUCKET_AVATARS)

_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}"
_NAME = re.compile(rf"^{_SEGMENT}(?:/{_SEGMENT})*$")
_LIST_PAGE = 100


# What the supabase client raises: API errors (StorageApiError) and transport errors.
_BACKEND_ERRORS = (StorageException, httpx.HTTPError)


class ObjectNotFound(Exception):
    """The object does not exist (or its name is not one we would ever store)."""


class ObjectExists(Exception):
    """A non-upsert write found an object of that name."""


class StorageUnavailable(ApiError):
    """The storage backend failed; the client sees a 503 without details."""

    status = 503
    code = "storage_unavailable"
    default_message = "File storage is unavailable"


class ObjectStorage(Protocol):
    """What the records services need from a storage backend."""

    def put(
        self, bucket: str, name: str, data: bytes, *, content_type: str, upsert: bool = False
    ) -> None: ...

    def get(self, bucket: str, name: str) -> bytes: ...

    def delete(self, bucket: str, names: Sequence[str]) -> int: ...

    def list(self, bucket: str, prefix: str) -> list[str]: ...

    def public_url(self, bucket: str, name: str) -> str | None: ...


def valid_object_name(name: str) -> bool:
    """True for names we store: relative, safe characters, no empty or dot-leading segments."""
    return len(name) <= 1024 and bool(_NAME.fullmatch(name))


def _check(bucket: str, name: str) -> None:
    if bucket not in BUCKETS or not valid_object_name(name):
        raise ObjectNotFound


class LocalStorage:
    """Objects as files under MEDIA_ROOT/<bucket>/<name>."""

    def __init__(self, root: Path | str | None = None) -> None:
        self._root = Path(root) if root is not None else None

    def _bucket_dir(self, bucket: str) -> Path:
        root = self._root if self._root is not None else Path(settings.MEDIA_ROOT)
        return (root / bucket).resolve()

    def _path(self, bucket: str, name: str) -> Path:
        _check(bucket, name)
        base = self._bucket_dir(bucket)
        path = (base / name).resolve()
        if not path.is_relative_to(base) or path == base:
            raise ObjectNotFound
        return path

    def put(
        self, bucket: str, name: str, data: bytes, *, content_type: str, upsert: bool = False
    ) -> None:
        path = self._path(bucket, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            if upsert:
                os.replace(tmp, path)
            else:
                try:
                    os.link(tmp, path)  # atomic and exclusive: fails if the name exists
                except FileExistsError as exc:
                    raise ObjectExists from exc
                except OSError:
                    # No hard links on this filesystem: check, then move (names are random).
                    if path.exists():
                        raise ObjectExists from None
                    os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def get(self, bucket: str, name: str) -> bytes:
        path = self._path(bucket, name)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ObjectNotFound from exc

    def delete(self, bucket: str, names: Sequence[str]) -> int:
        deleted = 0
        for name in names:
            try:
                self._path(bucket, name).unlink()
            except (ObjectNotFound, FileNotFoundError, IsADirectoryError, NotADirectoryError):
                continue
            deleted += 1
        return deleted

    def list(self, bucket: str, prefix: str) -> list[str]:
        folder, _, start = prefix.rpartition("/")
        if folder and not valid_object_name(folder):
            return []
        base = self._bucket_dir(bucket)
        directory = (base / folder).resolve() if folder else base
        if not directory.is_relative_to(base) or not directory.is_dir():
            return []
        return sorted(
            f"{folder}/{entry.name}" if folder else entry.name
            for entry in directory.iterdir()
            if entry.is_file() and entry.name.startswith(start) and valid_object_name(entry.name)
        )

    def public_url(self, bucket: str, name: str) -> str | None:
        return None


@functools.lru_cache(maxsize=4)
def _supabase_client(url: str, key: str) -> Client:
    from supabase import create_client

    return create_client(url, key)


def supabase_admin_client() -> Client:
    """The service-role Supabase client (storage and auth admin), one per URL and key."""
    url, key = settings.SUPABASE_URL, settings.SUPABASE_SERVICE_ROLE_KEY
    if not (url and key):
        raise StorageUnavailable()
    return _supabase_client(url, key)


def supabase_configured() -> bool:
    """SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY are both set."""
    return bool(settings.SUPABASE_URL and settings.SUPABASE_SERVICE_ROLE_KEY)


class SupabaseStorage:
    """Objects in Supabase Storage buckets, through the service-role client."""

    def _bucket(self, bucket: str) -> Any:
        return supabase_admin_client().storage.from_(bucket)

    def put(
        self, bucket: str, name: str, data: bytes, *, content_type: str, upsert: bool = False
    ) -> None:
        _check(bucket, name)
        options = {"content-type": content_type, "upsert": "true" if upsert else "false"}
        try:
            self._bucket(bucket).upload(name, data, options)
        except _BACKEND_ERRORS as exc:
            if _status(exc) == "409":
                raise ObjectExists from exc
            raise _unavailable("upload", exc) from exc

    def get(self, bucket: str, name: str) -> bytes:
        _check(bucket, name)
        try:
            data = self._bucket(bucket).download(name)
        except _BACKEND_ERRORS as exc:
            if _is_not_found(exc):
                raise ObjectNotFound from exc
            raise _unavailable("download", exc) from exc
        return bytes(data)

    def delete(self, bucket: str, names: Sequence[str]) -> int:
        checked = [name for name in names if bucket in BUCKETS and valid_object_name(name)]
        if not checked:
            return 0
        try:
            removed = self._bucket(bucket).remove(checked)
        except _BACKEND_ERRORS as exc:
            raise _unavailable("remove", exc) from exc
        return len(removed or [])

    def list(self, bucket: str, prefix: str) -> list[str]:
        folder, _, start = prefix.rpartition("/")
        if bucket not in BUCKETS or (folder and not valid_object_name(folder)):
            return []
        names: list[str] = []
        offset = 0
        while True:
            options: dict[str, Any] = {"limit": _LIST_PAGE, "offset": offset}
            if start:
                options["search"] = start
            try:
                page = self._bucket(bucket).list(folder, options)
            except _BACKEND_ERRORS as exc:
                raise _unavailable("list", exc) from exc
            for item in page:
                name = str(item.get("name") or "")
                # Folders come back with a null id; only objects are listed.
                if item.get("id") and name.startswith(start) and valid_object_name(name):
                    names.append(f"{folder}/{name}" if folder else name)
            if len(page) < _LIST_PAGE:
                return names
            offset += _LIST_PAGE

    def public_url(self, bucket: str, name: str) -> str | None:
        _check(bucket, name)
        return str(self._bucket(bucket).get_public_url(name))


def _status(exc: Exception) -> str:
    return str(getattr(exc, "status", "") or "")


def _is_not_found(exc: Exception) -> bool:
    code = str(getattr(exc, "code", "") or "")
    return _status(exc) == "404" or code in ("not_found", "NoSuchKey")


def _unavailable(operation: str, exc: Exception) -> StorageUnavailable:
    # Only the operation and the exception type: never object names or storage messages.
    log.error("storage %s failed: %s", operation, type(exc).__name__)
    return StorageUnavailable()


def get_storage() -> ObjectStorage:
    """The configured backend (MEDIQOM_STORAGE_BACKEND: local or supabase)."""
    if settings.MEDIQOM_STORAGE_BACKEND == "supabase":
        return SupabaseStorage()
    return LocalStorage()
