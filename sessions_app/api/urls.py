from __future__ import annotations

from django.urls import URLPattern, path

from sessions_app.api import views

urlpatterns: list[URLPattern] = [
    path("session/start", views.SessionStartApi.as_view(), name="session-start"),
    path("session/current", views.SessionCurrentApi.as_view(), name="session-current"),
    path("session/feedback", views.SessionFeedbackApi.as_view(), name="session-feedback"),
    path(
        "session/<uuid:session_id>/transcribe",
        views.SessionTranscribeApi.as_view(),
        name="session-transcribe",
    ),
    path("session/<uuid:session_id>/audio", views.SessionAudioApi.as_view(), name="session-audio"),
    path(
        "session/<uuid:session_id>/stream", views.SessionStreamApi.as_view(), name="session-stream"
    ),
    path(
        "session/<uuid:session_id>/status", views.SessionStatusApi.as_view(), name="session-status"
    ),
    path("session/<uuid:session_id>/end", views.SessionEndApi.as_view(), name="session-end"),
    path(
        "session/<uuid:session_id>/report.pdf",
        views.SessionReportPdfApi.as_view(),
        name="session-report-pdf",
    ),
    path("transcribe", views.TranscribeApi.as_view(), name="transcribe"),
    path("med/session", views.MedSessionApi.as_view(), name="med-session"),
    path(
        "med/session/finalize", views.MedSessionFinalizeApi.as_view(), name="med-session-finalize"
    ),
    path("chat/conversation", views.ChatConversationApi.as_view(), name="chat-conversation"),
]
