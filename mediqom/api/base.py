"""BaseApi: authentication, deny-by-default and the RLS transaction for every /v1 view."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any, TypeVar, cast

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponseBase
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.views import APIView

from mediqom.audit.services import AuditContext
from mediqom.auth.tokens import SupabaseUser
from mediqom.db.rls import apply_rls, apply_rls_and_check_profile, clear_rls, rls_context
from mediqom.errors import InvalidInput

S = TypeVar("S", bound=serializers.Serializer)  # type: ignore[type-arg]


class AuthedRequest(Request):
    user: SupabaseUser  # type: ignore[assignment]


class BaseApi(APIView):
    """Each request runs in one transaction; after authentication it is switched to the
    caller's RLS identity, so the database enforces the same scope as `for_user()`.

    The switch also tells whether the caller's profile row exists (one statement); only a
    first request creates it, with the server's rights, then switches back."""

    # SupabaseJWTAuthentication leaves the first-login profile to enter_user_identity().
    ensures_profile = True

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        nested = connection.in_atomic_block
        with transaction.atomic():
            response = super().dispatch(request, *args, **kwargs)
        if nested:
            clear_rls()
        return response

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if isinstance(request.user, SupabaseUser):
            enter_user_identity(request.user)


class PhasedApi(BaseApi):
    """No request-wide transaction: authentication (and a first request's profile) runs in
    one, then the handler opens its own `phase()` transactions (`rls_context`), so what a
    phase writes commits — and reaches stream subscribers — before a slow provider call that
    follows it, and no transaction or connection is held during that call."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        nested = connection.in_atomic_block
        response = APIView.dispatch(self, request, *args, **kwargs)
        if nested:
            clear_rls()
        return response

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        with transaction.atomic():
            super().initial(request, *args, **kwargs)

    def phase(self, request: AuthedRequest) -> Callable[[], AbstractContextManager[None]]:
        return lambda: rls_context(request.user)


def enter_user_identity(user: SupabaseUser) -> None:
    """Inside the request transaction: act as the user (RLS), creating its profile on the
    first request (as SupabaseJWTAuthentication does for views that are not BaseApi)."""
    from mediqom.records.services import profile_ensure

    exists = apply_rls_and_check_profile(user)
    if exists is None:  # no RLS (SQLite): the ORM check
        profile_ensure(user=user)
    elif not exists:
        clear_rls()
        profile_ensure(user=user)
        apply_rls(user)


def client_ip(request: Request | HttpRequest) -> str:
    """The caller's address: the socket peer, or the address the N-th trusted proxy saw."""
    return client_ip_of(request.META)


def client_ip_of(meta: Mapping[str, Any]) -> str:
    """`client_ip()` from the request's META (or a WSGI environ)."""
    proxies = settings.MEDIQOM_TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = [
            part.strip()
            for part in str(meta.get("HTTP_X_FORWARDED_FOR", "")).split(",")
            if part.strip()
        ]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return str(meta.get("REMOTE_ADDR", ""))


def audit_context(request: Request) -> AuditContext:
    """Who and where, for audit rows written during this request."""
    user = request.user
    return AuditContext(
        actor_id=user.id if isinstance(user, SupabaseUser) else None,
        ip=client_ip(request),
        request_id=str(getattr(request._request, "request_id", "")),
    )


def parse(serializer_class: type[S], data: Any, **kwargs: Any) -> dict[str, Any]:
    """Validate a request body with an input serializer; errors become the 400 envelope."""
    if not isinstance(data, dict):
        raise InvalidInput("The request body must be a JSON object", code="invalid_body")
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return cast(dict[str, Any], serializer.validated_data)
