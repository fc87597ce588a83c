"""Records test helpers: local storage in a temporary MEDIA_ROOT, and Alice's world built
through the API exactly as the client builds it."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from mediqom.auth.tokens import SupabaseUser
from tests.records.test_api_user import onboarding_body

IMAGES = Path(__file__).resolve().parent.parent / "fixtures" / "images"
NOT_FOUND = {"message": "Not found", "code": "not_found", "fields": {}}

# Ciphertext-like strings: long, with characters a careless server would trim or re-encode.
PEM_CHILD = "-----BEGIN PUBLIC KEY-----\nQ0hJTEQ=\n-----END PUBLIC KEY-----"
META = "bWV0YWRhdGE=" + "A" * 5000 + "+/=="
CONTENT = " Y29udGVudA==\n" + "B" * 20000 + "\t"
WRAPPED = "d3JhcHBlZA==" * 30


def data_url(name: str, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode((IMAGES / name).read_bytes()).decode()


@pytest.fixture(autouse=True)
def local_storage(settings: Any, tmp_path: Path) -> Path:
    """Every records test stores objects under its own temporary MEDIA_ROOT, never Supabase."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIQOM_STORAGE_BACKEND = "local"
    settings.SUPABASE_URL = ""
    settings.SUPABASE_SERVICE_ROLE_KEY = ""
    return tmp_path / "media"


def stored_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def document_body(
    *,
    author: uuid.UUID,
    profile: uuid.UUID,
    doc_type: str = "document",
    attachments: list[Any] | None = None,
    metadata: str = META,
    content: str = CONTENT,
) -> dict[str, Any]:
    """What the client's addDocument() posts: a grant for the author and one for the profile."""
    keys = [{"user_id": str(author), "owner_id": str(profile), "key": WRAPPED}]
    if profile != author:
        keys.append({"user_id": str(profile), "owner_id": str(profile), "key": WRAPPED + "2"})
    return {
        "type": doc_type,
        "metadata": metadata,
        "content": content,
        "attachments": attachments or [],
        "keys": keys,
    }


@dataclass
class World:
    """Alice's data, created through the API: onboarded, one family profile, documents in
    both profiles (one with an attachment), an avatar."""

    user: SupabaseUser
    client: APIClient
    family_id: uuid.UUID
    document_id: uuid.UUID
    family_document_id: uuid.UUID
    attachment_path: str
    avatar: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> uuid.UUID:
        return self.user.id


def build_world(user: SupabaseUser, client: APIClient) -> World:
    assert (
        client.post("/v1/account/onboarding", onboarding_body(), format="json").status_code == 200
    )
    created = client.post(
        "/v1/med/profiles",
        {
            "fullName": "Family Member",
            "language": "cs",
            "publicKey": PEM_CHILD,
            "privateKey": "RU5DUllQVEVE" * 20,
            "key_hash": "$2a$10$" + "x" * 53,
            "key_pass": "generated-passphrase",
        },
        format="json",
    )
    assert created.status_code == 200, created.content
    family_id = uuid.UUID(created.json()[0]["id"])
    upload = client.post(
        f"/v1/med/profiles/{family_id}/attachments", {"file": "ZW5jcnlwdGVk" * 10}, format="json"
    )
    assert upload.status_code == 200, upload.content
    attachment = upload.json()
    own = client.post(
        f"/v1/med/profiles/{user.id}/documents",
        document_body(author=user.id, profile=user.id),
        format="json",
    )
    assert own.status_code == 200, own.content
    family = client.post(
        f"/v1/med/profiles/{family_id}/documents",
        document_body(author=user.id, profile=family_id, attachments=[attachment]),
        format="json",
    )
    assert family.status_code == 200, family.content
    avatar = client.post(
        f"/v1/med/profiles/{family_id}/avatar",
        {"file": data_url("avatar.png"), "filename": "0.5.png", "type": "image/png"},
        format="json",
    )
    assert avatar.status_code == 200, avatar.content
    return World(
        user=user,
        client=client,
        family_id=family_id,
        document_id=uuid.UUID(own.json()["id"]),
        family_document_id=uuid.UUID(family.json()["id"]),
        attachment_path=attachment["path"],
        avatar="0.5.png",
    )


@pytest.fixture
def world(alice: SupabaseUser, client_for: Callable[[SupabaseUser | None], APIClient]) -> World:
    return build_world(alice, client_for(alice))
