"""Encryption settings and key recovery endpoints (contract §2.4): thin views over services."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crypto_app import services
from crypto_app.api.serializers import (
    EncryptionSettingsInput,
    RecoverUpdateInput,
    RecoverUpdateRecoveryInput,
    RecoverVerifyInput,
)
from mediqom.api.base import AuthedRequest, BaseApi, audit_context, parse
from mediqom.api.schema import ERROR_RESPONSES, ErrorEnvelope

_SUCCESS = inline_serializer("RecoverSuccess", {"success": serializers.BooleanField()})
_RECOVER_DOC = (
    "No token: the caller proves itself with the recovery key. An unknown email, an account "
    "without key data and a wrong key all answer 401 `invalid_recovery`. At most 5 failed "
    "attempts per email and per IP in 15 minutes (configurable), then 429 with Retry-After."
)
_RECOVER_ERRORS: dict[int, Any] = {
    400: ERROR_RESPONSES[400],
    401: OpenApiResponse(
        ErrorEnvelope,
        description="Invalid email or recovery key (also for an unknown email or no key data)",
    ),
    413: ERROR_RESPONSES[413],
    429: OpenApiResponse(
        ErrorEnvelope, description="Too many attempts for this email or IP; see Retry-After"
    ),
}


def _blank_to_none(value: str | None) -> str | None:
    return value or None


def _credentials(data: dict[str, Any]) -> services.KeyCredentials:
    return services.KeyCredentials(
        private_key=data["private_key"],
        key_hash=data["key_hash"],
        key_derivation_method=data["key_derivation_method"],
        passkey_credential_id=_blank_to_none(data.get("passkey_credential_id")),
        passkey_prf_salt=_blank_to_none(data.get("passkey_prf_salt")),
    )


class EncryptionSettingsApi(BaseApi):
    @extend_schema(
        operation_id="settings_encryption",
        summary="Switch the caller's key protection (passphrase / passkey) and recovery data",
        request=EncryptionSettingsInput,
        responses={
            200: inline_serializer(
                "EncryptionSettingsOut",
                {"success": serializers.BooleanField(), "method": serializers.CharField()},
            ),
            **ERROR_RESPONSES,
        },
    )
    def post(self, request: AuthedRequest) -> Response:
        data = parse(EncryptionSettingsInput, request.data)["newCredentials"]
        method = services.private_key_method_change(
            user=request.user,
            audit=audit_context(request),
            credentials=_credentials(data),
            recovery_encrypted_key=_blank_to_none(data.get("recovery_encrypted_key")),
            recovery_key_hash=_blank_to_none(data.get("recovery_key_hash")),
        )
        return Response({"success": True, "method": method})


class RecoveryApi(APIView):
    """Public (no token): the caller proves itself with the recovery key. No RLS identity and no
    request-wide transaction: the services commit the attempt rows themselves, so a failed
    attempt stays recorded although its error response rolls the rest back."""

    authentication_classes = []
    permission_classes = [AllowAny]


class RecoverVerifyApi(RecoveryApi):
    @extend_schema(
        operation_id="recover_verify",
        description=_RECOVER_DOC,
        summary="Check a recovery key; returns the recovery-encrypted private key",
        request=RecoverVerifyInput,
        responses={
            200: inline_serializer(
                "RecoverVerifyOut",
                {
                    "recovery_encrypted_key": serializers.CharField(),
                    "public_key": serializers.CharField(allow_null=True),
                },
            ),
            **_RECOVER_ERRORS,
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = parse(RecoverVerifyInput, request.data)
        payload = services.recovery_verify(
            email=data["email"], recovery_key=data["recoveryKey"], audit=audit_context(request)
        )
        return Response(payload)


class RecoverUpdateApi(RecoveryApi):
    @extend_schema(
        operation_id="recover_update",
        description=_RECOVER_DOC,
        summary="Replace the key protection after proving the recovery key",
        request=RecoverUpdateInput,
        responses={200: _SUCCESS, **_RECOVER_ERRORS},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = parse(RecoverUpdateInput, request.data)
        services.recovery_credentials_reset(
            email=data["email"],
            recovery_key=data["recoveryKey"],
            audit=audit_context(request),
            credentials=_credentials(data["newCredentials"]),
        )
        return Response({"success": True})


class RecoverUpdateRecoveryApi(RecoveryApi):
    @extend_schema(
        operation_id="recover_update_recovery",
        description=_RECOVER_DOC
        + " Replaces both the ciphertext and its hash (`newRecoveryKeyHash`, or computed from"
        " `newRecoveryKey`); with neither, 400 and nothing is written.",
        summary="Replace the recovery ciphertext and its hash after proving the old key",
        request=RecoverUpdateRecoveryInput,
        responses={200: _SUCCESS, **_RECOVER_ERRORS},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = parse(RecoverUpdateRecoveryInput, request.data)
        services.recovery_key_replace(
            email=data["email"],
            recovery_key=data["recoveryKey"],
            audit=audit_context(request),
            new_recovery_encrypted_key=data["newRecoveryEncryptedKey"],
            new_recovery_key_hash=_blank_to_none(data.get("newRecoveryKeyHash")),
            new_recovery_key=_blank_to_none(data.get("newRecoveryKey")),
        )
        return Response({"success": True})
