from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from mediqom.api import views as core_views
from mediqom.api.exceptions import json_not_found

v1_patterns: list[URLPattern | URLResolver] = [
    path("", include("mediqom.records.api.urls")),
    path("", include("crypto_app.api.urls")),
    path("", include("sessions_app.api.urls")),
    path("", include("mediqom.billing.api.urls")),
    path("", include("imports_app.api.urls")),
    path("", include("mediqom.serenity.api.urls")),
]
if settings.MEDIQOM_ENABLE_API_DOCS:
    v1_patterns += [
        path("schema", SpectacularAPIView.as_view(), name="schema"),
        path("docs", SpectacularRedocView.as_view(url_name="schema"), name="api-docs"),
    ]
# Anything else under /v1 (also ids that are not UUIDs) is the JSON 404, even with DEBUG on.
v1_patterns.append(re_path(r"^[\s\S]*$", json_not_found))

urlpatterns = [
    path("", core_views.landing, name="landing"),
    path("healthz", core_views.healthz, name="healthz"),
    path("v1/", include(v1_patterns)),
]
if settings.MEDIQOM_ENABLE_ADMIN:
    urlpatterns.append(path("admin/", admin.site.urls))

handler400 = "mediqom.api.exceptions.json_bad_request"
handler403 = "mediqom.api.exceptions.json_permission_denied"
handler404 = "mediqom.api.exceptions.json_not_found"
handler500 = "mediqom.api.exceptions.json_server_error"
