"""Records endpoints: thin views over selectors and services (contract §2.5, §2.8)."""

from __future__ import annotations

import copy
from uuid import UUID

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from mediqom.api.base import AuthedRequest, BaseApi, audit_context, parse
from mediqom.api.parsers import LimitedJSONParser
from mediqom.api.schema import ERROR_RESPONSES
from mediqom.errors import InvalidInput
from mediqom.records import quotas, selectors, services
from mediqom.records.api.serializers import (
    AttachmentUploadInput,
    AvatarUploadInput,
    DocumentCreateInput,
    DocumentUpdateInput,
    LanguageInput,
    OnboardingInput,
    ProfileCreateInput,
    ProfileRenameInput,
)

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
    allow_null=True,  # null until onboarding
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
_PROFILE_ROW_FIELDS: dict[str, serializers.Field] = {  # type: ignore[type-arg]
    "id": serializers.UUIDField(),
    "auth_id": serializers.UUIDField(allow_null=True),
    "owner_id": serializers.UUIDField(allow_null=True),
    "fullName": serializers.CharField(allow_null=True),
    "avatarUrl": serializers.CharField(allow_null=True),
    "subscription": serializers.CharField(),
    "publicKey": serializers.CharField(allow_null=True),
    "language": serializers.CharField(allow_null=True),
    "email": serializers.CharField(allow_null=True),
    "updated_at": serializers.DateTimeField(),
}
_MESSAGE = inline_serializer("ProfileRemoved", {"message": serializers.CharField()})
_NULL = OpenApiResponse(description="The JSON literal `null`")
_BINARY = OpenApiResponse(OpenApiTypes.BINARY, description="The stored bytes")
_FORBIDDEN = OpenApiResponse(description="Visible, but the caller may not change it")
_KEY_ROW = inline_serializer(
    "KeyRow",
    {
        "id": serializers.UUIDField(),
        "created_at": serializers.DateTimeField(),
        "document_id": serializers.UUIDField(),
        "owner_id": serializers.UUIDField(),
        "user_id": serializers.UUIDField(),
        "key": serializers.CharField(),
        "author_id": serializers.UUIDField(),
    },
    many=True,
)
_PATH = OpenApiParameter(
    "path", str, required=True, allow_blank=False, description="Stored object path"
)
_PID = OpenApiParameter("pid", OpenApiTypes.UUID, OpenApiParameter.PATH)
_DID = OpenApiParameter("did", OpenApiTypes.UUID, OpenApiParameter.PATH)
_TIER_FIELDS: dict[str, serializers.Field] = {  # type: ignore[type-arg]
    "id": serializers.CharField(),
    "name": serializers.CharField(),
    "profile_limit": serializers.IntegerField(allow_null=True),
    "scan_limit": serializers.IntegerField(),
    "price_monthly_eur": serializers.IntegerField(),
    "price_yearly_eur": serializers.IntegerField(),
    "stripe_product_id": serializers.CharField(allow_null=True),
    "stripe_price_monthly_eur": serializers.CharField(allow_null=True),
    "stripe_price_yearly_eur": serializers.CharField(allow_null=True),
    "apple_product_id_monthly": serializers.CharField(allow_null=True),
    "apple_product_id_yearly": serializers.CharField(allow_null=True),
    "google_product_id_monthly": serializers.CharField(allow_null=True),
    "google_product_id_yearly": serializers.CharField(allow_null=True),
    "is_active": serializers.BooleanField(),
    "sort_order": serializers.IntegerField(),
    "created_at": serializers.DateTimeField(),
}
_LEGACY_ERRORS = {
    status: OpenApiResponse(
        inline_serializer(
            f"LegacyError{status}",
            {
                "success": serializers.BooleanField(),
                "error": serializers.CharField(),
                "message": serializers.CharField(),
                "code": serializers.CharField(),
                "fields": serializers.DictField(),
            },
        ),
        description="Envelope plus the reference's `{success: false, error}`",
    )
    for status in (400, 401, 502, 503)
}


def _fields(source: dict[str, serializers.Field]) -> dict[str, serializers.Field]:  # type: ignore[type-arg]
    """Fresh field instances: DRF binds a field instance to one serializer."""
    return {name: copy.deepcopy(field) for name, field in source.items()}


def json_null() -> HttpResponse:
    """A literal JSON `null` body (DRF renders `Response(None)` as an empty body)."""
    return HttpResponse(b"null", content_type="application/json")


def raw_body(data: bytes, content_type: str, *, cache: str = "private, no-store") -> HttpResponse:
    """Stored bytes as they are, never rendered as a document by the browser."""
    response = HttpResponse(data, content_type=content_type)
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = cache
    return response


class PlainTextJSONParser(LimitedJSONParser):
    """JSON sent as text/plain: the client's avatar upload is a bare fetch() without a
    Content-Type header, which browsers send as `text/plain;charset=UTF-8`."""

    media_type = "text/plain"


class BinaryApi(BaseApi):
    """Views answering raw bytes: an `Accept: image/*` is never refused with a 406."""

    def perform_content_negotiation(
        self, request: Request, force: bool = False
    ) -> tuple[BaseRenderer, str]:
        return super().perform_content_negotiation(request, force=True)


class LegacyErrorApi(BaseApi):
    """/v1/user/* answered errors as `{success: false, error}`: add those keys to the envelope
    of every error, authentication and validation included."""

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        if isinstance(response.data, dict) and "message" in response.data:
            response.data.setdefault("success", False)
            response.data.setdefault("error", response.data["message"])
        return response


def _query(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    return value if isinstance(value, str) else None


def _choice(request: Request, name: str, allowed: tuple[str, ...]) -> str | None:
    """An optional query parameter that, when sent, must be one of `allowed` (a typo must not
    silently fall back to the default: `?link_type=parnet` would delete a family profile)."""
    value = _query(request, name)
    if value is None or value in allowed:
        return value
    raise InvalidInput(
        f"Invalid {name}",
        code="invalid_query",
        fields={name: [f"Must be one of: {', '.join(allowed)}"]},
    )


def _required_path(request: Request) -> str:
    path = _query(request, "path")
    if not path:
        raise InvalidInput(
            "Path parameter required", code="path_required", fields={"path": ["Required"]}
        )
    return path


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

    @extend_schema(
        operation_id="med_profiles_create",
        summary="Create a family (virtual) profile; answers an array with the created row",
        request=ProfileCreateInput,
        responses={
            200: OpenApiResponse(
                inline_serializer("ProfileRow", _fields(_PROFILE_ROW_FIELDS), many=True)
            ),
            403: OpenApiResponse(description="Profile limit reached (current/limit)"),
            **ERROR_RESPONSES,
        },
    )
    def post(self, request: AuthedRequest) -> Response:
        data = parse(ProfileCreateInput, request.data)
        profile = services.profile_create(
            user=request.user,
            audit=audit_context(request),
            full_name=data["fullName"],
            public_key=data["publicKey"],
            private_key=data["privateKey"],
            key_hash=data["key_hash"],
            key_pass=data.get("key_pass"),
            language=data.get("language"),
        )
        return Response([selectors.profile_row_payload(profile)])


class ProfileDetailApi(BaseApi):
    @extend_schema(
        operation_id="med_profile_get",
        summary="The caller's link to one profile",
        parameters=[_PID],
        responses={
            200: inline_serializer(
                "ProfileLinkDetail",
                {
                    "profiles": inline_serializer(
                        "ProfileSummary",
                        {
                            "id": serializers.UUIDField(),
                            "fullName": serializers.CharField(allow_null=True),
                            "language": serializers.CharField(allow_null=True),
                            "avatarUrl": serializers.CharField(allow_null=True),
                            "publicKey": serializers.CharField(allow_null=True),
                        },
                    ),
                    "status": serializers.CharField(),
                },
            ),
            **ERROR_RESPONSES,
        },
    )
    def get(self, request: AuthedRequest, pid: UUID) -> Response:
        return Response(selectors.profile_link_get(user=request.user, profile_id=pid))

    @extend_schema(
        operation_id="med_profile_rename",
        summary="Rename the caller's own or owned profile; answers the updated row",
        parameters=[_PID],
        request=ProfileRenameInput,
        responses={
            200: inline_serializer("UpdatedProfileRow", _fields(_PROFILE_ROW_FIELDS)),
            403: _FORBIDDEN,
            **ERROR_RESPONSES,
        },
    )
    def patch(self, request: AuthedRequest, pid: UUID) -> Response:
        data = parse(ProfileRenameInput, request.data)
        profile = services.profile_rename(
            user=request.user,
            audit=audit_context(request),
            profile_id=pid,
            full_name=data["fullName"],
        )
        return Response(selectors.profile_row_payload(profile))

    @extend_schema(
        operation_id="med_profile_remove",
        summary="Delete an owned family profile, or unlink (`?link_type=parent`: a parent)",
        parameters=[_PID, OpenApiParameter("link_type", str, enum=["parent"])],
        responses={200: _MESSAGE, **ERROR_RESPONSES},
    )
    def delete(self, request: AuthedRequest, pid: UUID) -> Response:
        message = services.profile_remove(
            user=request.user,
            audit=audit_context(request),
            profile_id=pid,
            parent_link=_choice(request, "link_type", ("parent",)) == "parent",
        )
        return Response({"message": message})


# ---------------------------------------------------------------- documents


class DocumentListApi(BaseApi):
    @extend_schema(
        operation_id="med_documents_list",
        summary="Documents of a profile the caller holds a grant for (only its own grants)",
        parameters=[
            _PID,
            OpenApiParameter("types", str, description="Comma-separated document types"),
            OpenApiParameter("full", str, enum=["true", "false"], description="Include content"),
        ],
        responses={
            200: OpenApiResponse(
                inline_serializer(
                    "DocumentListItem",
                    {
                        "id": serializers.UUIDField(),
                        "metadata": serializers.CharField(),
                        "type": serializers.CharField(),
                        "user_id": serializers.UUIDField(),
                        "author_id": serializers.UUIDField(),
                        "keys": _KEY_ROW,
                        "content": serializers.CharField(required=False),
                        "attachments": serializers.ListField(
                            child=serializers.CharField(), required=False
                        ),
                    },
                    many=True,
                )
            ),
            **ERROR_RESPONSES,
        },
    )
    def get(self, request: AuthedRequest, pid: UUID) -> Response:
        documents = selectors.documents_list(
            user=request.user,
            audit=audit_context(request),
            profile_id=pid,
            types=selectors.parse_document_types(_query(request, "types")),
            full=_choice(request, "full", ("true", "false")) == "true",
        )
        return Response(documents)

    @extend_schema(
        operation_id="med_documents_create",
        summary="Store an encrypted document and its key grants",
        parameters=[_PID],
        request=DocumentCreateInput,
        responses={
            200: inline_serializer("DocumentCreated", {"id": serializers.UUIDField()}),
            403: _FORBIDDEN,
            **ERROR_RESPONSES,
        },
    )
    def post(self, request: AuthedRequest, pid: UUID) -> Response:
        data = parse(DocumentCreateInput, request.data)
        document = services.document_add(
            user=request.user,
            audit=audit_context(request),
            profile_id=pid,
            doc_type=data["type"],
            metadata=data["metadata"],
            content=data.get("content") or "",
            attachments=data.get("attachments") or [],
            keys=[dict(grant) for grant in data["keys"]],
        )
        return Response({"id": str(document.pk)})


class DocumentDetailApi(BaseApi):
    @extend_schema(
        operation_id="med_document_get",
        summary="One encrypted document with the caller's grant",
        parameters=[_PID, _DID],
        responses={
            200: inline_serializer(
                "DocumentDetail",
                {
                    "id": serializers.UUIDField(),
                    "metadata": serializers.CharField(),
                    "content": serializers.CharField(),
                    "type": serializers.CharField(),
                    "attachments": serializers.ListField(child=serializers.CharField()),
                    "user_id": serializers.UUIDField(),
                    "author_id": serializers.UUIDField(),
                    "keys": inline_serializer(
                        "DocumentKey",
                        {"key": serializers.CharField(), "owner_id": serializers.UUIDField()},
                        many=True,
                    ),
                },
            ),
            **ERROR_RESPONSES,
        },
    )
    def get(self, request: AuthedRequest, pid: UUID, did: UUID) -> Response:
        return Response(
            selectors.document_get(
                user=request.user, audit=audit_context(request), profile_id=pid, document_id=did
            )
        )

    @extend_schema(
        operation_id="med_document_update",
        summary="Replace a document's ciphertexts (needs the grant owner_id=pid, user_id=caller)",
        parameters=[_PID, _DID],
        request=DocumentUpdateInput,
        responses={200: _NULL, **ERROR_RESPONSES},
    )
    def put(self, request: AuthedRequest, pid: UUID, did: UUID) -> HttpResponse:
        data = parse(DocumentUpdateInput, request.data)
        services.document_update(
            user=request.user,
            audit=audit_context(request),
            profile_id=pid,
            document_id=did,
            metadata=data["metadata"],
            content=data["content"],
            attachments=data.get("attachments"),
        )
        return json_null()

    @extend_schema(
        operation_id="med_document_delete",
        summary="Delete a document and its grants (needs the same grant as an update)",
        parameters=[_PID, _DID],
        responses={200: _NULL, **ERROR_RESPONSES},
    )
    def delete(self, request: AuthedRequest, pid: UUID, did: UUID) -> HttpResponse:
        services.document_remove(
            user=request.user, audit=audit_context(request), profile_id=pid, document_id=did
        )
        return json_null()


# ---------------------------------------------------------------- attachments and avatars


class AttachmentApi(BinaryApi):
    @extend_schema(
        operation_id="med_attachment_get",
        summary="The stored (encrypted) attachment body, byte for byte",
        parameters=[_PID, _PATH],
        responses={(200, "text/plain"): _BINARY, **ERROR_RESPONSES},
    )
    def get(self, request: AuthedRequest, pid: UUID) -> HttpResponse:
        # `pid` is not the authority: the client sends the uploader's id or the document's
        # profile; access is decided by the path (own upload or a granted document's reference).
        data = selectors.attachment_read(
            user=request.user, audit=audit_context(request), path=_required_path(request)
        )
        return raw_body(data, "text/plain;charset=UTF-8")

    @extend_schema(
        operation_id="med_attachment_upload",
        summary="Store an encrypted attachment under the caller's prefix",
        parameters=[_PID],
        request=AttachmentUploadInput,
        responses={
            200: inline_serializer(
                "Attachment", {"url": serializers.CharField(), "path": serializers.CharField()}
            ),
            403: _FORBIDDEN,
            **ERROR_RESPONSES,
        },
    )
    def post(self, request: AuthedRequest, pid: UUID) -> Response:
        data = parse(AttachmentUploadInput, request.data)
        return Response(
            services.attachment_upload(
                user=request.user, audit=audit_context(request), profile_id=pid, file=data["file"]
            )
        )

    @extend_schema(
        operation_id="med_attachment_delete",
        summary="Delete one of the caller's own attachments",
        parameters=[_PID, _PATH],
        responses={
            200: inline_serializer("AttachmentDeleted", {"deleted": serializers.BooleanField()}),
            **ERROR_RESPONSES,
        },
    )
    def delete(self, request: AuthedRequest, pid: UUID) -> Response:
        services.attachment_delete(
            user=request.user, audit=audit_context(request), path=_required_path(request)
        )
        return Response({"deleted": True})


class AvatarApi(BinaryApi):
    parser_classes = [LimitedJSONParser, PlainTextJSONParser]

    @extend_schema(
        operation_id="med_avatar_get",
        summary="A profile's avatar image",
        parameters=[_PID, _PATH],
        responses={(200, "image/*"): _BINARY, **ERROR_RESPONSES},
    )
    def get(self, request: AuthedRequest, pid: UUID) -> HttpResponse:
        data, content_type = selectors.avatar_read(
            user=request.user,
            audit=audit_context(request),
            profile_id=pid,
            filename=_required_path(request),
        )
        return raw_body(data, content_type, cache="private, max-age=300")

    @extend_schema(
        operation_id="med_avatar_upload",
        summary="Upload an avatar (a data URL of a PNG, JPEG, GIF or WebP image)",
        parameters=[_PID],
        request=AvatarUploadInput,
        responses={
            200: inline_serializer("AvatarUploaded", {"filename": serializers.CharField()}),
            403: _FORBIDDEN,
            **ERROR_RESPONSES,
        },
    )
    def post(self, request: AuthedRequest, pid: UUID) -> Response:
        data = parse(AvatarUploadInput, request.data)
        filename = services.avatar_upload(
            user=request.user,
            audit=audit_context(request),
            profile_id=pid,
            file=data["file"],
            filename=data["filename"],
        )
        return Response({"filename": filename})


# ---------------------------------------------------------------- account


class UserLanguageApi(LegacyErrorApi):
    @extend_schema(
        operation_id="user_language",
        summary="Set the caller's language (en, cs or de)",
        request=LanguageInput,
        responses={200: _SUCCESS, **_LEGACY_ERRORS},
    )
    def post(self, request: AuthedRequest) -> Response:
        body = request.data
        language = body.get("language") if isinstance(body, dict) else None
        services.user_language_set(user=request.user, language=str(language or ""))
        return Response({"success": True})


class UserDeleteApi(LegacyErrorApi):
    @extend_schema(
        operation_id="user_delete",
        summary="Delete the account: stored files, then all of the user's data (and auth user)",
        request=None,
        responses={
            200: inline_serializer(
                "AccountDeleted",
                {"success": serializers.BooleanField(), "message": serializers.CharField()},
            ),
            **_LEGACY_ERRORS,
        },
    )
    def delete(self, request: AuthedRequest) -> Response:
        services.account_delete(user=request.user, audit=audit_context(request))
        return Response({"success": True, "message": "Account deleted successfully"})


# ---------------------------------------------------------------- billing


class BillingTiersApi(BaseApi):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="billing_tiers",
        summary="Active subscription tiers by sort order (public)",
        auth=[],
        responses={200: inline_serializer("Tier", _fields(_TIER_FIELDS), many=True)},
    )
    def get(self, request: Request) -> Response:
        return Response(selectors.tiers_list())


class BillingPacksApi(BaseApi):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="billing_packs",
        summary="Active scan packs (public)",
        auth=[],
        responses={
            200: inline_serializer(
                "ScanPack",
                {
                    "id": serializers.CharField(),
                    "name": serializers.CharField(),
                    "scans": serializers.IntegerField(),
                    "price_eur": serializers.IntegerField(),
                    "stripe_price_id": serializers.CharField(allow_null=True),
                    "apple_product_id": serializers.CharField(allow_null=True),
                    "google_product_id": serializers.CharField(allow_null=True),
                    "is_active": serializers.BooleanField(),
                    "created_at": serializers.DateTimeField(),
                },
                many=True,
            )
        },
    )
    def get(self, request: Request) -> Response:
        return Response(selectors.packs_list())


class BillingSubscriptionApi(BaseApi):
    @extend_schema(
        operation_id="billing_subscription",
        summary="The caller's subscription with usage (a free one is created on first use)",
        responses={
            200: inline_serializer(
                "SubscriptionWithUsage",
                {
                    "id": serializers.UUIDField(),
                    "profiles": serializers.IntegerField(),
                    "scans": serializers.IntegerField(),
                    "updated_at": serializers.DateTimeField(),
                    "tier_id": serializers.CharField(),
                    "status": serializers.CharField(),
                    "source": serializers.CharField(),
                    "stripe_customer_id": serializers.CharField(allow_null=True),
                    "stripe_subscription_id": serializers.CharField(allow_null=True),
                    "apple_original_transaction_id": serializers.CharField(allow_null=True),
                    "google_purchase_token": serializers.CharField(allow_null=True),
                    "current_period_start": serializers.DateTimeField(allow_null=True),
                    "current_period_end": serializers.DateTimeField(allow_null=True),
                    "cancel_at_period_end": serializers.BooleanField(),
                    "scans_base": serializers.IntegerField(),
                    "scans_used": serializers.IntegerField(),
                    "scans_credits": serializers.IntegerField(),
                    "scans_reset_at": serializers.DateTimeField(allow_null=True),
                    "scans_available": serializers.IntegerField(),
                    "scans_remaining_base": serializers.IntegerField(),
                    "tier": inline_serializer(
                        "SubscriptionTierRow", _fields(_TIER_FIELDS), allow_null=True
                    ),
                    "profile_count": serializers.IntegerField(),
                    "can_create_profile": serializers.BooleanField(),
                },
            ),
            **ERROR_RESPONSES,
        },
    )
    def get(self, request: AuthedRequest) -> Response:
        return Response(quotas.subscription_with_usage(user=request.user))
