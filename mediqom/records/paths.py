"""Names of stored objects (contract §2.5, §5.7) and how documents refer to them.

Attachments live at `attachments/{uploader auth id}/{random}`; avatars at
`avatars/{profile id}_{filename}`. Anything that does not match these shapes exactly (paths
with `..`, slashes, other users' shapes, URL tricks) is treated as a missing object.
"""

from __future__ import annotations

import json
import re
import secrets
import string
from typing import Any
from urllib.parse import unquote
from uuid import UUID

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_NAME = r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}"
ATTACHMENT_PATH = re.compile(rf"(?P<owner>{_UUID})/(?P<name>{_NAME})")
# How a stored reference may embed the path: a Supabase public URL (…/attachments/<path>),
# our own API URL (…/attachments?path=<path>) or a JSON object {"url", "path"}.
_PATH_IN_URL = re.compile(rf"(?:/attachments/|[?&]path=)(?P<path>{_UUID}/{_NAME})(?=$|[?&#])")
AVATAR_FILENAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_RANDOM_ALPHABET = string.ascii_lowercase + string.digits


def new_attachment_path(owner_id: UUID) -> str:
    """`{owner}/{26 random base36 characters}`, like the reference's random names."""
    return f"{owner_id}/" + "".join(secrets.choice(_RANDOM_ALPHABET) for _ in range(26))


def valid_attachment_path(path: str) -> bool:
    """`{uuid}/{name}` exactly: no traversal, no other shapes."""
    return bool(ATTACHMENT_PATH.fullmatch(path))


def attachment_owner(path: str) -> UUID | None:
    """The uploader encoded in a valid attachment path."""
    match = ATTACHMENT_PATH.fullmatch(path)
    return UUID(match.group("owner")) if match else None


def attachment_path_from_ref(ref: Any) -> str | None:
    """The storage path a document's `attachments` item refers to (object, JSON text, URL or
    bare path); None when it refers to nothing we store."""
    if isinstance(ref, dict):
        for key in ("path", "url"):
            value = ref.get(key)
            path = attachment_path_from_ref(value) if isinstance(value, str) else None
            if path is not None:
                return path
        return None
    if not isinstance(ref, str):
        return None
    text = ref.strip()
    if text.startswith("{"):
        try:
            return attachment_path_from_ref(json.loads(text))
        except ValueError:
            return None
    if ATTACHMENT_PATH.fullmatch(text):
        return text
    match = _PATH_IN_URL.search(unquote(text))
    return match.group("path") if match else None


def stored_ref(ref: str | dict[str, Any]) -> str:
    """How an `attachments` item is kept in the varchar[] column: strings verbatim, objects as
    compact JSON text (what PostgREST stored for the reference's object items)."""
    if isinstance(ref, str):
        return ref
    return json.dumps(ref, separators=(",", ":"), ensure_ascii=False)


def avatar_object_name(profile_id: UUID, filename: str) -> str | None:
    """`{profile id}_{filename}`, or None for a filename we would never store."""
    if not AVATAR_FILENAME.fullmatch(filename) or ".." in filename:
        return None
    return f"{profile_id}_{filename}"
