from __future__ import annotations

from django.urls import path

from mediqom.records.api import views

urlpatterns = [
    path("med/user", views.UserDetailApi.as_view(), name="med-user"),
    path("account/onboarding", views.OnboardingApi.as_view(), name="account-onboarding"),
    path("med/profiles", views.ProfileListApi.as_view(), name="med-profiles"),
]
