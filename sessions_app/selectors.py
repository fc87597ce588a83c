"""Reads of live consultations, shaped as the client expects (contract §2.2, §3.2)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from mediqom.errors import NotFound
from mediqom.records.models import Profile
from sessions_app import events
from sessions_app.models import ConsultationSession, SessionTranscript
from sessions_app.querysets import HasId
from sessions_app.report import ReportData
from sessions_app.services import load_json, session_language, status_data


def session_get(*, user: HasId, session_id: UUID) -> ConsultationSession:
    """The caller's session; another user's session is the same 404 as a missing one."""
    session = ConsultationSession.objects.for_user(user).filter(pk=session_id).first()
    if session is None:
        raise NotFound("Session not found", code="session_not_found")
    return session


def session_status(*, user: HasId, session: ConsultationSession) -> dict[str, Any]:
    """`GET /v1/session/{id}/status`: the snapshot, with the real merged analysis."""
    transcripts = SessionTranscript.objects.for_user(user).filter(session_id=session.pk)
    return {
        "sessionId": str(session.id),
        "status": session.status,
        "transcripts": [t.as_partial() for t in transcripts.order_by("position")],
        "analysis": load_json(session.analysis),
        "lastUpdated": session.last_activity_at.isoformat(),
        "stats": {
            "transcriptCount": session.transcript_count,
            "eventCount": session.event_count,
            "analysisCount": session.analysis_count,
            "analysisInProgress": session.analysis_running,
            "hasOpenAIThread": bool(session.openai_conversation_id),
        },
    }


def _person(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("name", "fullName", "full_name"):
            if isinstance(value.get(key), str):
                return str(value[key])
    return ""


def session_report_data(*, user: HasId, session: ConsultationSession) -> ReportData:
    """What the PDF shows: the finalize report if there is one, the merged analysis, the
    transcript analysis; the clinician defaults to the caller's profile name."""
    analysis = load_json(session.analysis)
    transcript = load_json(session.transcript_analysis)
    stored = load_json(session.report)
    report, details = stored.get("report") or {}, stored.get("details") or {}
    context = load_json(session.context)
    clinician = _person(details.get("doctor")) or _person(context.get("doctor"))
    if not clinician:
        profile = Profile.objects.for_user(user).filter(pk=user.id).first()
        clinician = (profile.full_name or "") if profile else ""
    return ReportData(
        language=session_language(session),
        date=session.created_at,
        patient=_person(details.get("patient")) or _person(context.get("patient")),
        clinician=clinician,
        complaint=str(details.get("complaint") or transcript.get("complaint") or ""),
        symptoms=list(details.get("symptoms") or transcript.get("symptoms") or []),
        diagnoses=list(analysis.get("diagnosis") or details.get("diagnosis") or []),
        treatment=list(analysis.get("treatment") or []),
        medication=list(analysis.get("medication") or []),
        follow_up=list(analysis.get("followUp") or []),
        questions=list(analysis.get("clarifyingQuestions") or []),
        narrative={
            "findings": str(report.get("findings") or ""),
            "treatment": str(report.get("treatment") or ""),
            "medication": str(report.get("medication") or ""),
            "follow_up": str(report.get("follow-up") or ""),
            "recommendations": str(report.get("recommendations") or ""),
        },
        local=session.analysis_provider == "local",
    )


def session_connected_event(*, user: HasId, session_id: UUID) -> dict[str, Any]:
    """The `session_status` event a stream starts with (fresh counts, never stored)."""
    session = session_get(user=user, session_id=session_id)
    return events.event("session_status", status_data(session, "connected"))
