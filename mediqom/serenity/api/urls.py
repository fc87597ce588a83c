from __future__ import annotations

from django.urls import path

from mediqom.serenity.api import views

urlpatterns = [
    path("serenity/analyze", views.SerenityAnalyzeApi.as_view(), name="serenity-analyze"),
]
