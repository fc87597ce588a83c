"""Writes of live consultations: start, transcripts, merged analysis, end, purge, feedback.

Keyword-only and transactional. Every state change the clinician's screen should see is also
appended to the session's event stream (`sessions_app.events`), in the same transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from mediqom.errors import ApiError, Conflict, InvalidInput
from mediqom.logging import get_logger
from sessions_app import events
from sessions_app.icd10 import verify_diagnosis_codes
from sessions_app.languages import Language, language_code
from sessions_app.merge import analysis_update_payload, merge_analysis
from sessions_app.models import (
    FEEDBACK_VALUES,
    STATUS_ACTIVE,
    STATUS_ENDED,
    ConsultationSession,
    SessionFeedback,
    SessionTranscript,
)
from sessions_app.querysets import HasId, SessionQuerySet, SessionTranscriptQuerySet

log = get_logger("session")


def load_json(stored: str) -> dict[str, Any]:
    """A stored (decrypted) JSON document, `{}` when empty."""
    if not stored:
        return {}
    value = json.loads(stored)
    return value if isinstance(value, dict) else {}


def dump_json(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _sessions(user: HasId | None) -> SessionQuerySet:
    """The sessions a caller may touch. Requests pass their user: only the caller's own.
    Server-side work passes `user=None` explicitly (see the comment below)."""
    if user is not None:
        return ConsultationSession.objects.for_user(user)
    # Background analysis and idle-end act with the server's rights.
    # unscoped: server-side work on a session id authorized when it was scheduled
    return ConsultationSession.objects.all()


def _transcripts(user: HasId | None) -> SessionTranscriptQuerySet:
    """A session's transcripts, scoped like `_sessions()`."""
    if user is not None:
        return SessionTranscript.objects.for_user(user)
    # unscoped: the background analysis reads a session authorized when it was scheduled
    return SessionTranscript.objects.all()


def session_emit(
    *,
    user: HasId | None,
    session: ConsultationSession,
    event_type: events.EventType,
    data: dict[str, Any],
    ended: bool = False,
) -> dict[str, Any] | None:
    """Append one event to the stream of an active session and count it (None, nothing
    appended, once the session has ended: late background work must not reopen its stream;
    only `session_end` itself passes `ended=True`). The session row is locked (by the count)
    before the stream row: every path takes them in that order, so parallel writers of one
    session queue instead of deadlocking, and a writer that waited for an end sees it."""
    payload = events.event(event_type, data)
    counted = _sessions(user).filter(pk=session.pk)
    if not ended:
        counted = counted.filter(status=STATUS_ACTIVE)
    if not counted.update(event_count=F("event_count") + 1):
        return None
    _stream_append(session=session, payload=payload)
    return payload


def _stream_append(*, session: ConsultationSession, payload: dict[str, Any]) -> None:
    from mediqom.streams.services import stream_append

    stream_append(key=events.stream_key(session.id), owner_id=session.owner_id, payload=payload)


def session_start(
    *,
    user: HasId,
    language: str = "en",
    models: list[str] | None = None,
    translate: bool = False,
    context: dict[str, Any] | None = None,
    openai_state: bool = False,
) -> ConsultationSession:
    """A new active session owned by the caller; with `openai_state`, also its optional
    OpenAI conversation (`sessions_app.openai_state`, created before the row so no
    transaction waits on the network)."""
    from sessions_app.openai_state import conversation_create

    session_id = uuid.uuid4()
    chosen = list(models or ["GP"])
    conversation = (
        conversation_create(session_id=session_id, language=language, models=chosen)
        if openai_state
        else ""
    )
    now = timezone.now()
    session = ConsultationSession.objects.create(
        id=session_id,
        owner_id=user.id,
        language=language_code(language),
        models_requested=chosen,
        translate=translate,
        created_at=now,
        last_activity_at=now,
        context=dump_json(context) if context else "",
        openai_conversation_id=conversation,
    )
    started = status_data(session, "started")
    session_emit(user=user, session=session, event_type="session_status", data=started)
    log.info("session started", extra={"session_id": str(session.id)})
    return session


def status_data(session: ConsultationSession, status: str) -> dict[str, Any]:
    """`session_status.data` (contract §3.2, plus the persisted status)."""
    return {
        "status": status,
        "sessionId": str(session.id),
        "timestamp": events.now_ms(),
        "sessionStatus": session.status,
        "stats": {
            "transcriptCount": session.transcript_count,
            "hasOpenAIThread": bool(session.openai_conversation_id),
            "analysisInProgress": session.analysis_running,
        },
    }


def _require_active(session: ConsultationSession) -> None:
    if session.status != STATUS_ACTIVE:
        raise Conflict("The session has ended", code="session_ended")


@transaction.atomic
def session_add_transcript(
    *,
    user: HasId,
    session: ConsultationSession,
    text: str,
    chunk_id: str = "",
    sequence_number: int | None = None,
    timestamp: int | None = None,
    confidence: float = 0.8,
    speaker: str = "",
    is_final: bool = True,
) -> SessionTranscript | None:
    """Store a transcribed chunk and push it as `partial_transcript` (nothing for silence)."""
    text = text.strip()
    locked = _sessions(user).select_for_update().get(pk=session.pk)
    _require_active(locked)
    if not text:
        _sessions(user).filter(pk=session.pk).update(last_activity_at=timezone.now())
        return None
    transcript = SessionTranscript.objects.create(
        session=locked,
        owner_id=locked.owner_id,
        position=locked.transcript_count,
        chunk_id=chunk_id[:128],
        sequence_number=sequence_number,
        client_timestamp=timestamp,
        text=text,
        confidence=confidence,
        speaker=speaker[:16],
        is_final=is_final,
    )
    _sessions(user).filter(pk=session.pk).update(
        transcript_count=F("transcript_count") + 1,
        transcript_chars=F("transcript_chars") + len(text) + 1,
        last_activity_at=timezone.now(),
    )
    session_emit(
        user=user, session=locked, event_type="partial_transcript", data=transcript.as_partial()
    )
    return transcript


@transaction.atomic
def session_merge_analysis(
    *,
    user: HasId | None,
    session: ConsultationSession,
    update: dict[str, Any],
    provider: str,
    chars: int | None = None,
) -> dict[str, Any]:
    """Merge one analysis result into the session's cumulative analysis (§4.1) and push
    `analysis_update`. ICD-10 codes not in the shipped table are dropped first."""
    update = verify_diagnosis_codes(update)
    locked = _sessions(user).select_for_update().get(pk=session.pk)
    merged = merge_analysis(load_json(locked.analysis), update)
    fields: dict[str, Any] = {
        "analysis": dump_json(merged),
        "analysis_provider": provider[:32],
        "analysis_count": locked.analysis_count + 1,
        "analysis_last_at": timezone.now(),
    }
    if chars is not None:
        fields["analysis_chars"] = chars
    for name, value in fields.items():
        setattr(locked, name, value)
    locked.save(update_fields=list(fields))
    session_emit(
        user=user,
        session=locked,
        event_type="analysis_update",
        data=analysis_update_payload(merged, update),
    )
    return merged


def session_store_transcript_analysis(
    *, session: ConsultationSession, analysis: dict[str, Any]
) -> None:
    """Keep the latest transcript analysis (complaint, symptoms, conversation) encrypted."""
    session.transcript_analysis = dump_json(analysis)
    session.save(update_fields=["transcript_analysis"])


def session_store_report(
    *, session: ConsultationSession, report: dict[str, Any], details: dict[str, Any]
) -> None:
    """Keep the finalize report and what it was made from (patient, clinician, …) encrypted."""
    session.report = dump_json({"report": report, "details": details})
    session.save(update_fields=["report"])


@transaction.atomic
def session_end(
    *, user: HasId | None, session: ConsultationSession, reason: str = "client"
) -> ConsultationSession:
    """End the session (idempotent): status `ended`, a last `session_status`, stream closed."""
    locked = _sessions(user).select_for_update().get(pk=session.pk)
    if locked.status == STATUS_ENDED:
        return locked
    now = timezone.now()
    locked.status = STATUS_ENDED
    locked.ended_at = now
    locked.end_reason = reason[:16]
    locked.last_activity_at = now
    locked.save(update_fields=["status", "ended_at", "end_reason", "last_activity_at"])
    session_emit(
        user=user,
        session=locked,
        event_type="session_status",
        data=status_data(locked, "ended"),
        ended=True,
    )
    from mediqom.streams.services import stream_end

    stream_end(key=events.stream_key(locked.id))
    if locked.openai_conversation_id:
        session_id, conversation = locked.id, locked.openai_conversation_id
        transaction.on_commit(lambda: _forget_conversation(session_id, conversation))
    log.info("session ended", extra={"session_id": str(locked.id), "reason": reason})
    return locked


def _forget_conversation(session_id: UUID, conversation: str) -> None:
    """After the end commits: delete the session's OpenAI conversation, then forget its id."""
    from sessions_app.openai_state import conversation_delete

    if conversation_delete(conversation):
        # unscoped: runs after the end committed, for a session authorized by that end
        ConsultationSession.objects.filter(pk=session_id).update(openai_conversation_id="")


def sessions_end_idle(*, now: datetime | None = None) -> int:
    """End every active session idle longer than MEDIQOM_SESSION_IDLE_MINUTES (server rights)."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.MEDIQOM_SESSION_IDLE_MINUTES)
    ended = 0
    # unscoped: housekeeping (end_idle_sessions) ends idle sessions of every owner
    for session in ConsultationSession.objects.idle_since(cutoff).only("id"):
        session_end(user=None, session=session, reason="idle")
        ended += 1
    return ended


def sessions_purge(*, now: datetime | None = None) -> int:
    """Delete ended sessions older than MEDIQOM_SESSION_TTL_HOURS with their transcripts and
    feedback (server rights); then the events of ended streams past their retention."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.MEDIQOM_SESSION_TTL_HOURS)
    from mediqom.streams.services import stream_purge

    with transaction.atomic():
        # unscoped: housekeeping (purge_sessions) deletes every owner's expired sessions
        _, per_model = ConsultationSession.objects.expired(cutoff).delete()
    stream_purge(now=now)
    return int(per_model.get(ConsultationSession._meta.label, 0))


def feedback_record(
    *,
    user: HasId,
    item_type: str,
    item_content: Any,
    feedback: str,
    timestamp: str = "",
    session: ConsultationSession | None = None,
) -> SessionFeedback:
    """Record a clinician's verdict on a suggestion (content encrypted at rest)."""
    if feedback not in FEEDBACK_VALUES:
        raise InvalidInput(
            "feedback must be approved, rejected or neutral",
            code="invalid_feedback",
            fields={"feedback": ["invalid choice"]},
        )
    content = item_content if isinstance(item_content, str) else json.dumps(item_content)
    return SessionFeedback.objects.create(
        owner_id=user.id,
        session=session,
        item_type=item_type[:64],
        item_content=content,
        feedback=feedback,
        client_timestamp=str(timestamp)[:64],
    )


def analysis_claim(*, user: HasId | None, session_id: UUID, now: datetime | None = None) -> bool:
    """Take the session's single analysis slot (atomic; a stale claim may be taken over)."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.MEDIQOM_SESSION_ANALYSIS_STALE_SECONDS)
    free = _sessions(user).filter(pk=session_id, status=STATUS_ACTIVE)
    claimed = free.filter(analysis_running=False).update(
        analysis_running=True, analysis_started_at=now
    ) or free.filter(analysis_running=True, analysis_started_at__lt=stale).update(
        analysis_started_at=now
    )
    return bool(claimed)


def analysis_release(*, user: HasId | None, session_id: UUID) -> None:
    _sessions(user).filter(pk=session_id).update(analysis_running=False, analysis_started_at=None)


def session_language(session: ConsultationSession) -> Language:
    return language_code(session.language)


def _segments(*, user: HasId | None, session: ConsultationSession) -> list[Any]:
    from sessions_app.local_analysis import Segment

    return [
        Segment(id=str(t.id), text=t.text, speaker=t.speaker or None)
        for t in _transcripts(user).filter(session_id=session.pk).order_by("position")
    ]


def _analysis_due(session: ConsultationSession, *, force: bool) -> bool:
    grown = session.transcript_chars - session.analysis_chars
    if force:
        return grown > 0
    return grown >= settings.MEDIQOM_SESSION_ANALYSIS_MIN_NEW_CHARS


def session_analysis_run(*, user: HasId | None, session_id: UUID, force: bool = False) -> int:
    """Analyse the session's transcript until it is caught up; returns the number of runs.

    At most one run is in flight per session (a claimed slot in the row); text added during a
    run is coalesced into the next one; runs are at least MEDIQOM_SESSION_ANALYSIS_MIN_INTERVAL
    apart. Emits `ai_thinking` true/false around each run and `analysis_update` with the merged
    arrays; a failure emits `error` (no patient data in it). The background run passes
    `user=None` (the server's rights); `POST …/end` runs it for the caller, scoped to them.
    """
    import time

    from sessions_app import analysis

    runs = 0
    while True:
        session = _sessions(user).filter(pk=session_id).first()
        if session is None or not _analysis_due(session, force=force):
            return runs
        if not analysis_claim(user=user, session_id=session_id):
            return runs  # another worker has it; it re-checks after its run
        try:
            if session.analysis_last_at is not None and not force:
                wait = (
                    settings.MEDIQOM_SESSION_ANALYSIS_MIN_INTERVAL_SECONDS
                    - (timezone.now() - session.analysis_last_at).total_seconds()
                )
                if wait > 0:
                    time.sleep(wait)  # later text arriving meanwhile joins this run
            session.refresh_from_db()
            chars = session.transcript_chars
            session_emit(
                user=user, session=session, event_type="ai_thinking", data={"thinking": True}
            )
            try:
                _analysis_once(user=user, session=session, chars=chars, analysis=analysis)
            except ApiError as exc:
                log.warning("session analysis failed", extra={"code": exc.code})
                session_emit(
                    user=user,
                    session=session,
                    event_type="error",
                    data={"message": "Analysis failed", "code": exc.code},
                )
                _sessions(user).filter(pk=session_id).update(
                    analysis_chars=chars, analysis_last_at=timezone.now()
                )
            finally:
                session_emit(
                    user=user, session=session, event_type="ai_thinking", data={"thinking": False}
                )
            runs += 1
        finally:
            analysis_release(user=user, session_id=session_id)
        force = False


def _analysis_once(
    *, user: HasId | None, session: ConsultationSession, chars: int, analysis: Any
) -> None:
    segments = _segments(user=user, session=session)
    language = session_language(session)
    text = "\n".join(s.text for s in segments)
    context = load_json(session.context) or None
    transcript = analysis.analyze("transcript", text=text, language=language, segments=segments)
    session_store_transcript_analysis(session=session, analysis=transcript.data)
    diagnosis_text = text if transcript.local else dump_json(transcript.data)
    result = analysis.analyze(
        "diagnosis", text=diagnosis_text, language=language, segments=segments, context=context
    )
    session_merge_analysis(
        user=user, session=session, update=result.data, provider=result.provider, chars=chars
    )


def session_finish(
    *, user: HasId, session: ConsultationSession, analyze: bool = True
) -> ConsultationSession:
    """`POST …/end`: analyse any text not analysed yet (unless `analyze` is false), then end."""
    if analyze and session.status == STATUS_ACTIVE:
        session_analysis_run(user=user, session_id=session.id, force=True)
    return session_end(user=user, session=session, reason="client")


def session_current(*, user: HasId) -> ConsultationSession | None:
    """The caller's *current* session, where session-less calls of the consultation page
    (`POST /v1/med/session`, `…/finalize` without `sessionId`) land: among the caller's own
    sessions (`owner` = the caller; never another user's) those with status `active` and
    activity within the last `MEDIQOM_SESSION_IDLE_MINUTES` (an older one is about to be ended
    as idle), the most recently active one — latest `last_activity_at`, then latest
    `created_at`, then the larger id. A new `POST /v1/session/start` therefore becomes current
    at once, and every call that lands on a session keeps it current."""
    cutoff = timezone.now() - timedelta(minutes=settings.MEDIQOM_SESSION_IDLE_MINUTES)
    return (
        _sessions(user)
        .active()
        .filter(last_activity_at__gte=cutoff)
        .order_by("-last_activity_at", "-created_at", "-id")
        .first()
    )


@transaction.atomic
def session_current_or_start(
    *, user: HasId, language: str, models: list[str] | None = None
) -> tuple[ConsultationSession, bool]:
    """The caller's current session, or a new one started for them (`True` when started).
    Serialised per user (advisory lock), so parallel session-less calls share one session."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "select pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"session-current:{user.id}"]
        )
    current = session_current(user=user)
    if current is not None:
        return current, False
    session = session_start(user=user, language=language, models=models or None)
    log.info("session started implicitly", extra={"session_id": str(session.id)})
    return session, True


def session_touch(*, user: HasId, session: ConsultationSession) -> None:
    """Record activity on the session (keeps it current and away from the idle end)."""
    now = timezone.now()
    _sessions(user).filter(pk=session.pk).update(last_activity_at=now)
    session.last_activity_at = now


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


@transaction.atomic
def session_record_client_transcript(
    *, user: HasId, session: ConsultationSession, text: str
) -> SessionTranscript | None:
    """The consultation page sends its whole transcript so far with every `type: transcript`
    call. When the session's stored transcript (line by line, blank lines ignored) is a
    prefix of it, the new lines are stored as one transcript chunk and pushed as
    `partial_transcript`; text that does not continue the stored one is not stored (no
    guessing, no duplicates when the chunks already came through `…/transcribe`)."""
    _sessions(user).select_for_update().filter(pk=session.pk).first()  # parallel calls queue
    stored = [
        line
        for t in _transcripts(user).filter(session_id=session.pk).order_by("position")
        for line in _lines(t.text)
    ]
    incoming = _lines(text)
    if len(incoming) <= len(stored) or incoming[: len(stored)] != stored:
        return None
    return session_add_transcript(
        user=user, session=session, text="\n".join(incoming[len(stored) :])
    )


DbPhase = Callable[[], AbstractContextManager[Any]]


def _still_active(*, user: HasId, session: ConsultationSession) -> bool:
    return _sessions(user).filter(pk=session.pk, status=STATUS_ACTIVE).exists()


def med_session_analyze(
    *,
    user: HasId,
    kind: str,
    text: str,
    language: Language,
    previous: dict[str, Any] | None = None,
    session: ConsultationSession | None = None,
    db: DbPhase = nullcontext,
) -> Any:
    """`POST /v1/med/session`. With a session, the result also lands in its state and stream:
    for a transcript, its new lines first (`session_record_client_transcript`); then
    `ai_thinking` true/false around the call, then `analysis_update` — a diagnosis merged
    into the cumulative analysis; a transcript analysis stored and sent as the `incremental`
    part next to the unchanged cumulative arrays. A failed call adds an `error` event.

    The database work runs in two phases, each inside `db()` (the view passes
    `rls_context`), with the AI call between them outside any transaction: `ai_thinking`
    true reaches subscribers when the call starts, and no transaction waits on the model.
    A session that ended meanwhile gets nothing more."""
    from sessions_app import analysis

    if kind not in ("transcript", "diagnosis"):
        raise InvalidInput("type must be transcript or diagnosis", code="invalid_type")
    context = load_json(session.context) or None if session else None
    if session is not None:
        with db():
            _require_active(session)
            session_touch(user=user, session=session)
            if kind == "transcript":
                session_record_client_transcript(user=user, session=session, text=text)
            session_emit(
                user=user, session=session, event_type="ai_thinking", data={"thinking": True}
            )
    try:
        result = analysis.analyze(
            "transcript" if kind == "transcript" else "diagnosis",
            text=text,
            language=language,
            previous=previous,
            context=context,
        )
    except Exception as exc:
        if session is not None:
            with db():
                _analysis_failed(user=user, session=session, exc=exc)
        raise
    if session is not None:
        with db():
            if not _still_active(user=user, session=session):
                return result
            session_emit(
                user=user, session=session, event_type="ai_thinking", data={"thinking": False}
            )
            if kind == "transcript":
                session_store_transcript_analysis(session=session, analysis=result.data)
                cumulative = load_json(_sessions(user).get(pk=session.pk).analysis)
                session_emit(
                    user=user,
                    session=session,
                    event_type="analysis_update",
                    data=analysis_update_payload(cumulative, result.data),
                )
            else:
                session_merge_analysis(
                    user=user, session=session, update=result.data, provider=result.provider
                )
    return result


def _analysis_failed(*, user: HasId, session: ConsultationSession, exc: Exception) -> None:
    """After a failed call on a live session: `error` (code only) and `ai_thinking` false."""
    if not _still_active(user=user, session=session):
        return
    code = exc.code if isinstance(exc, ApiError) else "internal_error"
    session_emit(
        user=user,
        session=session,
        event_type="error",
        data={"message": "Analysis failed", "code": code},
    )
    session_emit(user=user, session=session, event_type="ai_thinking", data={"thinking": False})


def med_session_finalize(
    *,
    user: HasId,
    text: str,
    language: Language,
    session: ConsultationSession | None = None,
    db: DbPhase = nullcontext,
) -> Any:
    """`POST /v1/med/session/finalize`: the final report; with a session it is kept
    (encrypted) for the PDF and, if the session is active, the stream gets `ai_thinking`
    true/false and a `session_status` with status `finalized` (an ended session's closed
    stream stays closed). The session's merged analysis fills in only when the client sent
    no `diagnosis` key at all (an empty list is the clinician's choice). Phases as in
    `med_session_analyze`."""
    from sessions_app import analysis

    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    details = parsed if isinstance(parsed, dict) else {"complaint": text}
    if session is not None and "diagnosis" not in details:
        details = {**load_json(session.analysis), **details}
    live = session is not None and session.status == STATUS_ACTIVE
    if session is not None and live:
        with db():
            session_touch(user=user, session=session)
            session_emit(
                user=user, session=session, event_type="ai_thinking", data={"thinking": True}
            )
    try:
        result = analysis.finalize(details=details, language=language)
    except Exception as exc:
        if session is not None and live:
            with db():
                _analysis_failed(user=user, session=session, exc=exc)
        raise
    if session is not None:
        with db():
            session_store_report(session=session, report=result.data, details=details)
            if live and _still_active(user=user, session=session):
                session_emit(
                    user=user, session=session, event_type="ai_thinking", data={"thinking": False}
                )
                session_emit(
                    user=user,
                    session=session,
                    event_type="session_status",
                    data=status_data(session, "finalized"),
                )
    return result
