"""Billing (Stripe) and beta endpoints: thin views over services (contract §2.8, §2.9)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mediqom.api.base import AuthedRequest, BaseApi, client_ip, parse
from mediqom.api.schema import ERROR_RESPONSES
from mediqom.billing import selectors, services
from mediqom.billing.api.serializers import CheckoutInput, PortalInput, beta_application_parse
from mediqom.billing.stripe_client import require_configured
from mediqom.billing.webhook import webhook_receive
from mediqom.errors import InvalidInput

_UNAVAILABLE = {
    502: OpenApiResponse(description="Stripe could not complete the request"),
    503: OpenApiResponse(description="Stripe is not configured (`stripe_not_configured`)"),
}
_HOSTED = inline_serializer(
    "CheckoutSessionCreated", {"url": serializers.URLField(), "session_id": serializers.CharField()}
)
_EMBEDDED = inline_serializer(
    "EmbeddedCheckoutSessionCreated",
    {"clientSecret": serializers.CharField(), "sessionId": serializers.CharField()},
)
_LEGACY = inline_serializer(
    "BetaError",
    {
        "success": serializers.BooleanField(),
        "error": serializers.CharField(),
        "message": serializers.CharField(),
        "code": serializers.CharField(),
        "fields": serializers.DictField(),
    },
)


class _StripeApi(BaseApi):
    def initial(self, request: Request, *args: object, **kwargs: object) -> None:
        super().initial(request, *args, **kwargs)
        require_configured()  # 503 before anything else when Stripe is not configured


class StripeCheckoutApi(_StripeApi):
    @extend_schema(
        operation_id="billing_stripe_checkout",
        summary="Start a hosted Stripe Checkout for a tier (subscription) or a scan pack",
        request=CheckoutInput,
        responses={200: _HOSTED, **ERROR_RESPONSES, **_UNAVAILABLE},
    )
    def post(self, request: AuthedRequest) -> Response:
        data = parse(CheckoutInput, request.data)
        return Response(services.checkout_create(user=request.user, embedded=False, **data))


class StripeEmbeddedCheckoutApi(_StripeApi):
    @extend_schema(
        operation_id="billing_stripe_embedded_checkout",
        summary="Start an embedded Stripe Checkout (client secret) for a tier or a scan pack",
        request=CheckoutInput,
        responses={200: _EMBEDDED, **ERROR_RESPONSES, **_UNAVAILABLE},
    )
    def post(self, request: AuthedRequest) -> Response:
        data = parse(CheckoutInput, request.data)
        return Response(services.checkout_create(user=request.user, embedded=True, **data))


class StripePortalApi(_StripeApi):
    @extend_schema(
        operation_id="billing_stripe_portal",
        summary="Open the Stripe customer portal for the caller's billing account",
        request=PortalInput,
        responses={
            200: inline_serializer("PortalSession", {"url": serializers.URLField()}),
            **ERROR_RESPONSES,
            **_UNAVAILABLE,
        },
    )
    def post(self, request: AuthedRequest) -> Response:
        data = parse(PortalInput, request.data)
        return Response(services.portal_create(user=request.user, **data))


class StripeSessionStatusApi(_StripeApi):
    @extend_schema(
        operation_id="billing_stripe_session_status",
        summary="Status of one of the caller's checkout sessions",
        parameters=[OpenApiParameter("session_id", OpenApiTypes.STR, required=True)],
        responses={
            200: inline_serializer(
                "CheckoutSessionStatus",
                {
                    "status": serializers.CharField(allow_null=True),
                    "paymentStatus": serializers.CharField(allow_null=True),
                    "customerEmail": serializers.CharField(allow_null=True),
                },
            ),
            **ERROR_RESPONSES,
            **_UNAVAILABLE,
        },
    )
    def get(self, request: AuthedRequest) -> Response:
        session_id = str(request.query_params.get("session_id") or "")
        if not session_id or len(session_id) > 255:
            raise InvalidInput("session_id is required", code="session_id_required")
        return Response(selectors.checkout_session_status(user=request.user, session_id=session_id))


class StripeWebhookApi(APIView):
    """Called by Stripe: no Supabase token, only the Stripe-Signature over the raw body."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="billing_stripe_webhook",
        summary="Stripe webhook (signed with STRIPE_WEBHOOK_SECRET; each event applied once)",
        auth=[],
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=[
            OpenApiParameter("Stripe-Signature", OpenApiTypes.STR, OpenApiParameter.HEADER)
        ],
        responses={
            200: inline_serializer(
                "WebhookReceived",
                {
                    "received": serializers.BooleanField(),
                    "event_id": serializers.CharField(),
                    "event_type": serializers.CharField(),
                    "status": serializers.ChoiceField(choices=["processed", "error"]),
                    "outcome": serializers.CharField(),
                },
            ),
            400: OpenApiResponse(description="Missing or invalid signature, or bad payload"),
            503: OpenApiResponse(description="STRIPE_WEBHOOK_SECRET is not configured"),
        },
    )
    def post(self, request: Request) -> Response:
        signature = request.META.get("HTTP_STRIPE_SIGNATURE")
        return Response(webhook_receive(payload=request._request.body, signature=signature))


class BetaApplyApi(APIView):
    """The public beta form: no token (a token is ignored), rate-limited per client IP."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="beta_apply",
        summary="Apply for beta access",
        auth=[],
        request=OpenApiTypes.OBJECT,
        responses={
            200: inline_serializer(
                "BetaApplied",
                {
                    "success": serializers.BooleanField(),
                    "message": serializers.CharField(),
                    "applicationId": serializers.UUIDField(),
                },
            ),
            400: OpenApiResponse(_LEGACY, description="`Validation failed` with `details`"),
            409: OpenApiResponse(_LEGACY, description="The email already applied (`status`)"),
            429: OpenApiResponse(_LEGACY, description="Too many calls from this IP"),
        },
    )
    def post(self, request: Request) -> Response:
        data, errors = beta_application_parse(request.data)
        application_id = services.beta_apply(ip=client_ip(request), data=data, errors=errors)
        return Response(
            {
                "success": True,
                "message": "Application submitted successfully",
                "applicationId": application_id,
            }
        )

    @extend_schema(
        operation_id="beta_apply_status",
        summary="Status and date of the application with this email (nothing else)",
        auth=[],
        parameters=[OpenApiParameter("email", OpenApiTypes.STR, required=True)],
        responses={
            200: inline_serializer(
                "BetaStatus",
                {
                    "success": serializers.BooleanField(),
                    "status": serializers.CharField(),
                    "created_at": serializers.DateTimeField(),
                },
            ),
            400: OpenApiResponse(_LEGACY, description="No email given"),
            404: OpenApiResponse(_LEGACY, description="No application with this email"),
            429: OpenApiResponse(_LEGACY, description="Too many calls from this IP"),
        },
    )
    def get(self, request: Request) -> Response:
        email = str(request.query_params.get("email") or "")
        return Response(services.beta_status(ip=client_ip(request), email=email))
