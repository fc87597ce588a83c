"""Fixtures for import jobs: a user with keys, job bodies, page images."""

from __future__ import annotations

import base64
import functools
import io
from typing import Any

import pytest
from PIL import Image

from crypto_app.primitives import generate_rsa_keypair
from mediqom.auth.tokens import SupabaseUser
from mediqom.records.models import Profile
from tests.streams.conftest import start_server  # noqa: F401 - the uvicorn server fixture


@functools.cache
def keypair() -> tuple[str, str]:
    """(public PEM, private PEM), made once per run (RSA generation is slow)."""
    return generate_rsa_keypair()


def page_image(text: str = "page") -> str:
    """A real PNG page as a data URL."""
    image = Image.new("RGB", (64, 32), "white")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def job_body(pages: int = 1, *, name: str = "Novak_blood_2026.pdf") -> dict[str, Any]:
    return {
        "files": [
            {
                "name": name,
                "type": "application/pdf",
                "size": 12345,
                "taskType": "application/pdf",
                "processedImages": [page_image() for _ in range(pages)],
                "dicomMetadata": None,
                "thumbnail": page_image(),
            }
        ],
        "language": "Czech",
    }


def give_keys(user: SupabaseUser) -> str:
    """Store the test public key on the user's profile; returns the private PEM."""
    public, private = keypair()
    Profile.objects.filter(pk=user.id).update(public_key=public)
    return private


@pytest.fixture
def alice_keys(alice: SupabaseUser) -> str:
    return give_keys(alice)
