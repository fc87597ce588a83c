"""Consultation analysis through the shared AI layer (mediqom.ai), with the offline rules of
`local_analysis` when no remote provider is configured for a flow.

The local path is called directly (not through `structured_call`) so its output keeps what the
§4.7 schemas do not declare: the transcript evidence of each diagnosis and the `local` label.
Every result, local or remote, has its ICD-10 codes checked against the shipped table.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mediqom.ai import AIUnavailable, structured_call, transcribe
from mediqom.ai.config import candidates
from mediqom.errors import ApiError
from sessions_app import local_analysis
from sessions_app.icd10 import verify_diagnosis_codes
from sessions_app.languages import Language, language_name
from sessions_app.local_analysis import Segment
from sessions_app.merge import merge_analysis
from sessions_app.schemas import SchemaName, load_schema
from sessions_app.transcription import Instructions, prompt_for, strip_prompt_echo

Kind = Literal["transcript", "diagnosis"]
FLOWS: dict[SchemaName, str] = {
    "transcript": "session_transcript_analysis",
    "diagnosis": "session_diagnosis",
    "report": "session_report",
}


@dataclass(frozen=True)
class AnalysisResult:
    data: dict[str, Any]
    provider: str
    token_usage: int

    @property
    def local(self) -> bool:
        return self.provider == local_analysis.PROVIDER


class TranscriptionUnavailable(ApiError):
    status = 503
    code = "transcription_unavailable"
    default_message = "No transcription provider is configured"


def remote_configured(flow: str) -> bool:
    """Whether a remote provider would answer the flow (else we use the local rules)."""
    return bool(candidates(flow)[1])


def _remote(
    name: SchemaName, *, text: str, language: Language, preamble: str = ""
) -> AnalysisResult:
    schema = load_schema(name)  # structured_call fills [LANGUAGE]
    result = structured_call(
        flow=FLOWS[name],
        schema=schema,
        system=str(schema.get("description", "")),
        content=[{"type": "text", "text": preamble + text}],
        language=language_name(language),
    )
    data = verify_diagnosis_codes(result.data) if name == "diagnosis" else result.data
    return AnalysisResult(data=data, provider=result.provider, token_usage=result.token_usage)


def segments_from_text(text: str) -> list[Segment]:
    """Transcript segments from what a client sends: plain text, or the JSON of a transcript
    analysis (`conversation[]` turns keep their speaker; ids are `conversation.<i>`)."""
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("conversation"), list):
        segments = [
            Segment(
                id=f"conversation.{i}",
                text=str(turn.get("text", "")),
                speaker=str(turn.get("speaker") or "") or None,
            )
            for i, turn in enumerate(parsed["conversation"])
            if isinstance(turn, dict) and turn.get("text")
        ]
        if segments:
            return segments
    return [Segment(id="text", text=text)]


def previous_summary(previous: dict[str, Any]) -> str:
    """A short text summary of the analysis so far, prepended for gradual refinement."""
    parts = []
    for name, field in (
        ("diagnosis", "name"),
        ("treatment", "description"),
        ("medication", "name"),
    ):
        items = [str(i.get(field)) for i in previous.get(name) or [] if isinstance(i, dict)]
        if items:
            parts.append(f"{name}: {', '.join(items)}")
    return ("Previous analysis - " + "; ".join(parts) + "\n\n") if parts else ""


def context_preamble(context: dict[str, Any] | None) -> str:
    if not context:
        return ""
    return (
        "Patient context supplied by the clinician: "
        + json.dumps(context, ensure_ascii=False)
        + "\n\n"
    )


def analyze(
    kind: Kind,
    *,
    text: str,
    language: Language,
    previous: dict[str, Any] | None = None,
    segments: Sequence[Segment] | None = None,
    context: dict[str, Any] | None = None,
) -> AnalysisResult:
    """One transcript or diagnosis analysis; a diagnosis is merged with `previous` (§4.1)."""
    if not remote_configured(FLOWS[kind]):
        segs = list(segments) if segments else segments_from_text(text)
        data = (
            local_analysis.analyze_transcript(segs, language=language)
            if kind == "transcript"
            else local_analysis.analyze_diagnosis(segs, language=language)
        )
        result = AnalysisResult(data=data, provider=local_analysis.PROVIDER, token_usage=0)
    else:
        preamble = context_preamble(context)
        if kind == "diagnosis" and previous:
            preamble += previous_summary(previous)
        result = _remote(kind, text=text, language=language, preamble=preamble)
    if kind == "diagnosis" and previous:
        merged = merge_analysis(previous, result.data)
        result = AnalysisResult(
            data=merged, provider=result.provider, token_usage=result.token_usage
        )
    return result


def _local_report(details: dict[str, Any], language: Language) -> dict[str, Any]:
    """The finalize sections written from the analysis itself (no AI, no invented text)."""

    def bullets(items: Any, *fields: str) -> str:
        lines = []
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict):
                values = [str(item[f]) for f in fields if item.get(f)]
                if values:
                    lines.append("- " + " - ".join(values))
            elif isinstance(item, str) and item:
                lines.append("- " + item)
        return "\n".join(lines)

    complaint = details.get("complaint")
    findings = [str(complaint)] if isinstance(complaint, str) and complaint else []
    symptoms = bullets(details.get("symptoms"), "name")
    if symptoms:
        findings.append(symptoms)
    diagnoses = bullets(details.get("diagnosis"), "name", "code")
    if diagnoses:
        findings.append(diagnoses)
    return {
        "findings": "\n\n".join(findings),
        "treatment": bullets(details.get("treatment"), "description"),
        "medication": bullets(details.get("medication"), "name", "purpose"),
        "follow-up": bullets(details.get("followUp"), "name", "reason"),
        "recommendations": bullets(details.get("doctorRecommendations"), "recommendation"),
        "provider": local_analysis.PROVIDER,
        "label": local_analysis.LABEL[language],
    }


def finalize(*, details: dict[str, Any], language: Language) -> AnalysisResult:
    """The final report (§4.7 report schema) from the consultation's analysis."""
    if not remote_configured(FLOWS["report"]):
        return AnalysisResult(
            data=_local_report(details, language), provider=local_analysis.PROVIDER, token_usage=0
        )
    return _remote("report", text=json.dumps(details, ensure_ascii=False), language=language)


def transcribe_audio(*, audio: bytes, filename: str, mime: str, instructions: Instructions) -> str:
    """Text of one audio chunk: medical prompt, the client's language, prompt echo removed.
    No provider configured is a 503 `transcription_unavailable`, at once."""
    prompt = prompt_for(instructions)
    try:
        text = transcribe(
            audio=audio, filename=filename, mime=mime, language=instructions.lang, prompt=prompt
        )
    except AIUnavailable:
        raise TranscriptionUnavailable() from None
    return strip_prompt_echo(text, prompt)
