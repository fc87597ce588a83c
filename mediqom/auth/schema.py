"""OpenAPI description of the Supabase authentication (Bearer JWT or auth cookie)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class SupabaseJWTScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "mediqom.auth.authentication.SupabaseJWTAuthentication"
    name = "supabaseJWT"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A Supabase access token, as `Authorization: Bearer <token>` or in "
            "the @supabase/ssr `sb-<project ref>-auth-token` cookie.",
        }
