"""Consultation endpoints (contract §2.2, §2.7, §3.2, §3.3, §11.3): thin views over selectors
and services. Every session route resolves the session through `session_get` first, so another
user's session is a 404 exactly like a missing one."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from django.core.files.uploadedfile import UploadedFile
from django.http import HttpResponse, HttpResponseBase, StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from mediqom.ai import ai_configured
from mediqom.api.base import AuthedRequest, BaseApi, PhasedApi, parse
from mediqom.api.parsers import LimitedJSONParser
from mediqom.api.schema import ERROR_RESPONSES, SSE_EVENTS, ErrorEnvelope
from mediqom.db.rls import rls_context
from mediqom.errors import InvalidInput, NotFound
from mediqom.streams.sse import IgnoreAcceptNegotiation, sse_response
from sessions_app import analysis, chat, events, selectors, services, tasks
from sessions_app.api.serializers import (
    ChatInput,
    FeedbackInput,
    FinalizeInput,
    MedSessionInput,
    SessionAudioForm,
    SessionEndInput,
    SessionStartInput,
    SessionTranscribeForm,
    TranscribeForm,
)
from sessions_app.languages import language_code
from sessions_app.models import ConsultationSession
from sessions_app.report import render_report_pdf
from sessions_app.transcription import DEFAULT_CONFIDENCE, check_audio, parse_instructions

SSE_HEADERS = {
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "X-Accel-Buffering": "no",
}


def _audio(request: AuthedRequest, field: str, *, allow_any_audio: bool) -> tuple[bytes, str, str]:
    upload = request.FILES.get(field)
    if not isinstance(upload, UploadedFile):
        raise InvalidInput(
            "No audio file provided" if field == "audio" else "No file provided",
            code="no_file",
            fields={field: ["required"]},
        )
    mime = check_audio(
        content_type=upload.content_type, size=upload.size or 0, allow_any_audio=allow_any_audio
    )
    return upload.read(), upload.name or f"audio.{mime.split('/')[-1]}", mime


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _json_field(value: Any) -> Any:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


# Besides ERROR_RESPONSES: a session that has ended (409), no AI/transcription provider
# configured (503), every configured provider failed (502).
ENDED = {409: OpenApiResponse(ErrorEnvelope, description="The session has ended")}
AI_ERRORS = {
    502: OpenApiResponse(ErrorEnvelope, description="The AI provider failed"),
    503: OpenApiResponse(ErrorEnvelope, description="No AI provider is configured"),
}


class PhasedMultipartApi(PhasedApi):
    """A multipart upload whose handler calls a provider between its transactions."""

    parser_classes = [MultiPartParser, FormParser]


@extend_schema(request=SessionStartInput, responses={200: dict, **ERROR_RESPONSES})
class SessionStartApi(BaseApi):
    def post(self, request: AuthedRequest) -> Response:
        data = parse(SessionStartInput, request.data)
        session = services.session_start(
            user=request.user,
            language=data["language"],
            models=data.get("models"),
            translate=data["translate"],
            context=data.get("patientContext"),
            openai_state=True,
        )
        sid = str(session.id)
        return Response(
            {
                "sessionId": sid,
                "status": "success",
                "sseUrl": f"/v1/session/{sid}/stream",
                "audioUrl": f"/v1/session/{sid}/audio",
                "features": {
                    "realTimeStreaming": True,
                    "incrementalAnalysis": True,
                    "chatGPTIntegration": analysis.remote_configured("session_diagnosis"),
                    "voiceActivityDetection": True,
                },
                "config": {
                    "language": data["language"],
                    "models": session.models_requested,
                    "hasOpenAIThread": bool(session.openai_conversation_id),
                },
            }
        )


@extend_schema(
    request=SessionTranscribeForm, responses={200: dict, **ERROR_RESPONSES, **ENDED, **AI_ERRORS}
)
class SessionTranscribeApi(PhasedMultipartApi):
    def post(self, request: AuthedRequest, session_id: UUID) -> Response:
        with rls_context(request.user):
            session = selectors.session_get(user=request.user, session_id=session_id)
        chunk_id = str(request.data.get("chunkId") or "")
        if not chunk_id:
            raise InvalidInput(
                "Missing chunkId", code="missing_chunk_id", fields={"chunkId": ["required"]}
            )
        audio, filename, mime = _audio(request, "audio", allow_any_audio=True)
        instructions = parse_instructions(
            request.data.get("instructions"),
            default_lang=session.language,
            translate=session.translate,
        )
        metadata = _json_field(request.data.get("metadata"))
        metadata = metadata if isinstance(metadata, dict) else None
        sequence = _int(request.data.get("sequenceNumber"))
        timestamp = _int(request.data.get("timestamp"))
        # the provider call holds no transaction (and no row lock); the chunk is stored after
        text = analysis.transcribe_audio(
            audio=audio, filename=filename, mime=mime, instructions=instructions
        )
        with rls_context(request.user):
            transcript = services.session_add_transcript(
                user=request.user,
                session=session,
                text=text,
                chunk_id=chunk_id,
                sequence_number=sequence,
                timestamp=timestamp,
            )
            if transcript is not None:
                tasks.schedule_session_analysis(session.id)
        sequence_meta = metadata.get("sequenceNumber") if metadata else None
        return Response(
            {
                "success": True,
                "sessionId": str(session.id),
                "chunkId": chunk_id,
                "sequenceNumber": sequence,
                "timestamp": timestamp,
                "transcription": {
                    "text": text,
                    "confidence": DEFAULT_CONFIDENCE,
                    "language": instructions.lang,
                    "duration": 0,
                    "processed": False,
                },
                "chunkMetadata": metadata,
                "overlapProcessing": {
                    "enabled": False,
                    "canProcess": isinstance(sequence_meta, int) and sequence_meta > 1,
                    "sequenceNumber": sequence_meta,
                    "isTimeoutChunk": bool(metadata and metadata.get("isTimeoutForced")),
                },
                "processing": {
                    "provider": "whisper",
                    "processingTime": 0,
                    "energyLevel": metadata.get("energyLevel") if metadata else None,
                    "overlapDuration": metadata.get("overlapDurationMs") if metadata else None,
                },
            }
        )


@extend_schema(
    request=SessionAudioForm, responses={200: dict, **ERROR_RESPONSES, **ENDED, **AI_ERRORS}
)
class SessionAudioApi(PhasedMultipartApi):
    """Deprecated in the reference; kept: transcribe one chunk and push it to the stream."""

    def post(self, request: AuthedRequest, session_id: UUID) -> Response:
        with rls_context(request.user):
            session = selectors.session_get(user=request.user, session_id=session_id)
        audio, filename, mime = _audio(request, "audio", allow_any_audio=True)
        instructions = parse_instructions(
            None, default_lang=session.language, translate=session.translate
        )
        text = analysis.transcribe_audio(
            audio=audio, filename=filename, mime=mime, instructions=instructions
        )
        timestamp = _int(request.data.get("timestamp"))
        with rls_context(request.user):
            transcript = services.session_add_transcript(
                user=request.user,
                session=session,
                text=text,
                chunk_id=str(request.data.get("chunkId") or ""),
                timestamp=timestamp,
            )
            if transcript is not None:
                tasks.schedule_session_analysis(session.id)
        body: dict[str, Any] = {
            "sessionId": str(session.id),
            "processed": True,
            "timestamp": timestamp,
            "hasTranscript": transcript is not None,
            "analysisTriggered": transcript is not None,
        }
        if transcript is not None:
            body["transcript"] = transcript.as_partial()
        return Response(body)


@extend_schema(responses={200: dict, **ERROR_RESPONSES})
class SessionStatusApi(BaseApi):
    def get(self, request: AuthedRequest, session_id: UUID) -> Response:
        session = selectors.session_get(user=request.user, session_id=session_id)
        return Response(selectors.session_status(user=request.user, session=session))


@extend_schema(request=SessionEndInput, responses={200: dict, **ERROR_RESPONSES})
class SessionEndApi(BaseApi):
    def post(self, request: AuthedRequest, session_id: UUID) -> Response:
        data = parse(SessionEndInput, request.data or {})
        session = selectors.session_get(user=request.user, session_id=session_id)
        session = services.session_finish(
            user=request.user, session=session, analyze=data["analyze"]
        )
        return Response(selectors.session_status(user=request.user, session=session))


class SessionReportPdfApi(BaseApi):
    @extend_schema(responses={(200, "application/pdf"): bytes, **ERROR_RESPONSES})
    def get(self, request: AuthedRequest, session_id: UUID) -> HttpResponse:
        session = selectors.session_get(user=request.user, session_id=session_id)
        pdf = render_report_pdf(selectors.session_report_data(user=request.user, session=session))
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="consultation-{session.id}.pdf"'
        response["Cache-Control"] = "private, no-store"
        return response


@extend_schema(request=FeedbackInput, responses={200: dict, **ERROR_RESPONSES})
class SessionFeedbackApi(BaseApi):
    def post(self, request: AuthedRequest) -> Response:
        data = parse(FeedbackInput, request.data)
        session = (
            selectors.session_get(user=request.user, session_id=data["sessionId"])
            if data.get("sessionId")
            else None
        )
        feedback = services.feedback_record(
            user=request.user,
            item_type=data["itemType"],
            item_content=data["itemContent"],
            feedback=data["feedback"],
            timestamp=data["timestamp"],
            session=session,
        )
        return Response({"success": True, "id": str(feedback.id)})


@extend_schema(request=TranscribeForm, responses={200: dict, **ERROR_RESPONSES, **AI_ERRORS})
class TranscribeApi(PhasedMultipartApi):
    """Stateless: the provider call runs outside any transaction."""

    def post(self, request: AuthedRequest) -> Response:
        instructions = parse_instructions(request.data.get("instructions"))
        audio, filename, mime = _audio(request, "file", allow_any_audio=False)
        text = analysis.transcribe_audio(
            audio=audio, filename=filename, mime=mime, instructions=instructions
        )
        return Response({"text": text})


# The session a session-less `/v1/med/session` or `…/finalize` landed on (README "The
# current session"); the JSON bodies stay exactly the contract's.
SESSION_HEADER = "X-Mediqom-Session-Id"
SESSION_HEADER_DOC = OpenApiParameter(
    SESSION_HEADER, str, OpenApiParameter.HEADER, response=[200],
    description="The session the result landed on (absent when none)",
)  # fmt: skip


def _with_session(response: Response, session: ConsultationSession | None) -> Response:
    if session is not None:
        response[SESSION_HEADER] = str(session.id)
        response["Access-Control-Expose-Headers"] = SESSION_HEADER
    return response


@extend_schema(
    request=MedSessionInput,
    parameters=[SESSION_HEADER_DOC],
    responses={
        200: dict,
        **ERROR_RESPONSES,
        **ENDED,
        **AI_ERRORS,
    },
)
class MedSessionApi(PhasedApi):
    """With `sessionId`: that session (the caller's, else 404). Without: the caller's current
    session, or a new one started for them; its id comes back in `X-Mediqom-Session-Id`."""

    def post(self, request: AuthedRequest) -> Response:
        data = parse(MedSessionInput, request.data)
        with rls_context(request.user):
            if data.get("sessionId"):
                session = selectors.session_get(user=request.user, session_id=data["sessionId"])
            else:
                session, _ = services.session_current_or_start(
                    user=request.user,
                    language=data["language"],
                    models=data.get("models"),
                )
        result = services.med_session_analyze(
            user=request.user,
            kind=data["type"],
            text=data["text"],
            language=language_code(data["language"]),
            previous=data.get("previousAnalysis") or None,
            session=session,
            db=self.phase(request),
        )
        body = {**result.data, "tokenUsage": {"total": result.token_usage}}
        return _with_session(Response(body), session)


@extend_schema(
    request=FinalizeInput,
    parameters=[SESSION_HEADER_DOC],
    responses={
        200: dict,
        **ERROR_RESPONSES,
        **AI_ERRORS,
    },
)
class MedSessionFinalizeApi(PhasedApi):
    """With `sessionId`: that session. Without: the caller's current session if there is one
    (never a new one: a report alone is no consultation)."""

    def post(self, request: AuthedRequest) -> Response:
        data = parse(FinalizeInput, request.data)
        session: ConsultationSession | None = None
        with rls_context(request.user):
            if data.get("sessionId"):
                session = selectors.session_get(user=request.user, session_id=data["sessionId"])
            else:
                session = services.session_current(user=request.user)
        result = services.med_session_finalize(
            user=request.user,
            text=data["text"],
            language=language_code(data["language"]),
            session=session,
            db=self.phase(request),
        )
        body = {**result.data, "tokenUsage": {"total": result.token_usage}}
        return _with_session(Response(body), session)


@extend_schema(responses={200: dict, **ERROR_RESPONSES})
class SessionCurrentApi(BaseApi):
    """`GET /v1/session/current`: the caller's current session as `…/status` shows it, so a
    subscriber can find the stream that session-less calls feed; 404 when there is none."""

    def get(self, request: AuthedRequest) -> Response:
        session = services.session_current(user=request.user)
        if session is None:
            raise NotFound("No current session", code="session_not_found")
        return Response(selectors.session_status(user=request.user, session=session))


class ChatConversationApi(BaseApi):
    parser_classes = [LimitedJSONParser]

    @extend_schema(
        request=ChatInput,
        responses={(200, "text/event-stream"): SSE_EVENTS, **ERROR_RESPONSES, **AI_ERRORS},
    )
    def post(self, request: AuthedRequest) -> StreamingHttpResponse:
        data = parse(ChatInput, request.data)
        if not ai_configured(chat.flow_for(data["mode"])):
            from mediqom.ai import AIUnavailable

            raise AIUnavailable("No AI provider is configured for chat")
        response = StreamingHttpResponse(chat.chat_frames(data), content_type="text/event-stream")
        for name, value in SSE_HEADERS.items():
            response[name] = value
        return response


class SessionStreamApi(BaseApi):
    """SSE (contract §3.2, §12): `session_status` on connect (unstored), then every stored
    event with its `id:`; resumable with `Last-Event-ID`. Ends after the session has ended."""

    content_negotiation_class = IgnoreAcceptNegotiation

    @extend_schema(responses={(200, "text/event-stream"): SSE_EVENTS, **ERROR_RESPONSES})
    def get(self, request: AuthedRequest, session_id: UUID) -> HttpResponseBase:
        session = selectors.session_get(user=request.user, session_id=session_id)
        return sse_response(
            request,
            key=events.stream_key(session.id),
            initial=lambda: [
                selectors.session_connected_event(session_id=session.id, user=request.user)
            ],
        )
