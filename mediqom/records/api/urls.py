from __future__ import annotations

from django.urls import path

from mediqom.records.api import views

urlpatterns = [
    path("med/user", views.UserDetailApi.as_view(), name="med-user"),
    path("account/onboarding", views.OnboardingApi.as_view(), name="account-onboarding"),
    path("med/profiles", views.ProfileListApi.as_view(), name="med-profiles"),
    path("med/profiles/<uuid:pid>", views.ProfileDetailApi.as_view(), name="med-profile"),
    path(
        "med/profiles/<uuid:pid>/documents",
        views.DocumentListApi.as_view(),
        name="med-documents",
    ),
    path(
        "med/profiles/<uuid:pid>/documents/<uuid:did>",
        views.DocumentDetailApi.as_view(),
        name="med-document",
    ),
    path(
        "med/profiles/<uuid:pid>/attachments",
        views.AttachmentApi.as_view(),
        name="med-attachments",
    ),
    path("med/profiles/<uuid:pid>/avatar", views.AvatarApi.as_view(), name="med-avatar"),
    path("user/language", views.UserLanguageApi.as_view(), name="user-language"),
    path("user/delete", views.UserDeleteApi.as_view(), name="user-delete"),
    path("billing/tiers", views.BillingTiersApi.as_view(), name="billing-tiers"),
    path("billing/packs", views.BillingPacksApi.as_view(), name="billing-packs"),
    path(
        "billing/subscription",
        views.BillingSubscriptionApi.as_view(),
        name="billing-subscription",
    ),
]
