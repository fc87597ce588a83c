from __future__ import annotations

from django.urls import path

from imports_app.api import views

urlpatterns = [
    path("import/jobs", views.ImportJobListApi.as_view(), name="import-jobs"),
    path("import/jobs/<uuid:job_id>", views.ImportJobDetailApi.as_view(), name="import-job"),
    path(
        "import/jobs/<uuid:job_id>/process",
        views.ImportJobProcessApi.as_view(),
        name="import-job-process",
    ),
    path(
        "import/jobs/<uuid:job_id>/events",
        views.ImportJobEventsApi.as_view(),
        name="import-job-events",
    ),
]
