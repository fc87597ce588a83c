from __future__ import annotations

from django.urls import path

from mediqom.billing.api import views

urlpatterns = [
    path(
        "billing/stripe/checkout", views.StripeCheckoutApi.as_view(), name="billing-stripe-checkout"
    ),
    path(
        "billing/stripe/embedded-checkout",
        views.StripeEmbeddedCheckoutApi.as_view(),
        name="billing-stripe-embedded-checkout",
    ),
    path("billing/stripe/portal", views.StripePortalApi.as_view(), name="billing-stripe-portal"),
    path(
        "billing/stripe/session-status",
        views.StripeSessionStatusApi.as_view(),
        name="billing-stripe-session-status",
    ),
    path("billing/stripe/webhook", views.StripeWebhookApi.as_view(), name="billing-stripe-webhook"),
    path("beta/apply", views.BetaApplyApi.as_view(), name="beta-apply"),
]
