from __future__ import annotations

from django.urls import path

from mediqom.streams.api import views

urlpatterns = [
    path("streams/<str:key>", views.StreamEventsApi.as_view(), name="stream-events"),
]
