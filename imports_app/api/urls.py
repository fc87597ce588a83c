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
    path("import/extract", views.ImportExtractApi.as_view(), name="import-extract"),
    path(
        "import/extract/stream",
        views.ImportExtractStreamApi.as_view(),
        name="import-extract-stream",
    ),
    path("import/report", views.ImportReportApi.as_view(), name="import-report"),
    path(
        "import/report/stream", views.ImportReportStreamApi.as_view(), name="import-report-stream"
    ),
    path(
        "import/medical-imaging",
        views.ImportMedicalImagingApi.as_view(),
        name="import-medical-imaging",
    ),
    path(
        "import/medical-imaging/stream",
        views.ImportMedicalImagingStreamApi.as_view(),
        name="import-medical-imaging-stream",
    ),
]
