"""Records endpoints: thin views over selectors and services."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from mediqom.api.base import AuthedRequest, BaseApi, audit_context, parse
from mediqom.api.schema import ERROR_RESPONSES
from mediqom.errors import InvalidInput
from mediqom.records import selectors, services
from mediqom.records.api.serializers import OnboardingInput

_PRIVATE_KEYS = inline_serializer(
    "PrivateKeys",
    {
        "privateKey": serializers.CharField(),
        "key_hash": serializers.CharField(),
        "key_pass": serializers.CharField(allow_null=True),
        "key_derivation_method": serializers.CharField(allow_null=True),
        "passkey_credential_id": serializers.CharField(allow_null=True),
        "passkey_prf_salt": serializers.CharField(allow_null=True),
        "recovery_encrypted_key": serializers.CharField(allow_null=True),
    },
)
_PROFILE = inline_serializer(
    "LinkedProfile",
    {
        "id": serializers.UUIDField(),
        "auth_id": serializers.UUIDField(allow_null=True),
        "owner_id": serializers.UUIDField(allow_null=True),
        "fullName": serializers.CharField(allow_null=True),
        "language": serializers.CharField(allow_null=True),
        "avatarUrl": serializers.CharField(allow_null=True),
        "publicKey": serializers.CharField(allow_null=True),
    },
)
_SUCCESS = inline_serializer("Success", {"success": serializers.BooleanField()})


class UserDetailApi(BaseApi):
    @extend_schema(
        operation_id="med_user",
        summary="The caller's profile, encrypted private key and subscription stats",
        responses={
            200: inline_serializer(
                "MedUser",
                {
                    "id": serializers.UUIDField(),
                    "auth_id": serializers.UUIDField(),
                    "fullName": serializers.CharField(allow_null=True),
                    "language": serializers.CharField(allow_null=True),
                    "subscription": serializers.CharField(),
                    "publicKey": serializers.CharField(allow_null=True),
                    "avatarUrl": serializers.CharField(allow_null=True),
                    "private_keys": _PRIVATE_KEYS,
                    "subscriptionStats": inline_serializer(
                        "SubscriptionStats",
                        {
                            "profiles": serializers.IntegerField(),
                            "scans": serializers.IntegerField(),
                            "default_scans": serializers.IntegerField(),
                            "default_profiles": serializers.IntegerField(),
                        },
                    ),
                },
            ),
            **ERROR_RESPONSES,
        },
    )
    def get(self, request: AuthedRequest) -> Response:
        return Response(selectors.user_get(user=request.user, audit=audit_context(request)))


class OnboardingApi(BaseApi):
    @extend_schema(
        operation_id="account_onboarding",
        summary="First-time set-up: profile, encrypted private key and root documents",
        request=OnboardingInput,
        responses={200: _SUCCESS, **ERROR_RESPONSES},
    )
    def post(self, request: AuthedRequest) -> Response:
        body = request.data
        if isinstance(body, dict) and not all(
            body.get(name) for name in ("fullName", "publicKey", "privateKey", "key_hash")
        ):
            raise InvalidInput("Missing required fields", code="missing_fields", legacy_error=True)
        data = parse(OnboardingInput, body)
        services.account_onboard(
            user=request.user,
            audit=audit_context(request),
            full_name=data["fullName"],
            public_key=data["publicKey"],
            private_key=data["privateKey"],
            key_hash=data["key_hash"],
            avatar_url=data.get("avatarUrl"),
            language=data.get("language"),
            subscription=data.get("subscription"),
            passphrase=data.get("passphrase"),
            documents=data.get("documents"),
        )
        return Response({"success": True})


class ProfileListApi(BaseApi):
    @extend_schema(
        operation_id="med_profiles_list",
        summary="Profiles linked under the caller",
        responses={
            200: OpenApiResponse(
                inline_serializer(
                    "ProfileLinkOut",
                    {"profiles": _PROFILE, "status": serializers.CharField()},
                    many=True,
                )
            ),
            **ERROR_RESPONSES,
        },
    )
    def get(self, request: AuthedRequest) -> Response:
        return Response(selectors.profile_links_list(user=request.user))
