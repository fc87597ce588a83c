"""POST /v1/serenity/analyze (contract §2.9): a thin view over `form_analyze`."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from mediqom.api.base import AuthedRequest, PhasedApi, parse
from mediqom.api.schema import ERROR_RESPONSES, ErrorEnvelope
from mediqom.serenity.api.serializers import SerenityAnalyzeInput
from mediqom.serenity.forms import form_get
from mediqom.serenity.services import form_analyze

_QUESTIONS = [question["id"] for question in form_get("pre")["questions"]]
_RESPONSE = inline_serializer(
    "SerenityFormResponse",
    {
        "success": serializers.BooleanField(),
        "formResponses": inline_serializer(
            "SerenityFormResponses",
            {name: serializers.IntegerField(required=False) for name in _QUESTIONS},
        ),
        "totalScore": serializers.IntegerField(),
        "interpretation": inline_serializer(
            "SerenityInterpretation",
            {"range": serializers.CharField(), "guidance": serializers.CharField()},
        ),
        "confidence": serializers.FloatField(),
        "unansweredQuestions": serializers.ListField(child=serializers.CharField()),
        "reasoning": serializers.CharField(required=False),
        "provider": serializers.CharField(help_text='"local" for the offline scorer'),
        "offline": serializers.BooleanField(help_text="true: keyword scoring, no AI model"),
    },
)


class SerenityAnalyzeApi(PhasedApi):
    """Stateless: the provider call runs outside any transaction."""

    @extend_schema(
        operation_id="serenity_analyze",
        summary="Score the SERENITY therapeutic form (pre/post) from a transcript",
        request=SerenityAnalyzeInput,
        responses={
            200: _RESPONSE,
            **ERROR_RESPONSES,
            502: OpenApiResponse(ErrorEnvelope, description="The AI provider failed (ai_*)"),
            503: OpenApiResponse(ErrorEnvelope, description="No AI provider (ai_unavailable)"),
        },
    )
    def post(self, request: AuthedRequest) -> Response:
        data = parse(SerenityAnalyzeInput, request.data)
        return Response(
            form_analyze(
                transcript=data["transcript"],
                form_type=data["formType"],
                language=data["language"],
            )
        )
