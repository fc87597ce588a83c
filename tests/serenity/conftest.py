from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mediqom.auth.tokens import SupabaseUser


@pytest.fixture
def analyze(client_for: Any, alice: SupabaseUser) -> Callable[..., Any]:
    """POST /v1/serenity/analyze as Alice (or as `user`, None for no token)."""

    def post(body: Any, *, user: SupabaseUser | str | None = "alice") -> Any:
        client = client_for(alice if user == "alice" else user)
        return client.post("/v1/serenity/analyze", body, format="json")

    return post
