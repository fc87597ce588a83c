"""Stage 2 (contract 7.3): the unified analysis workflow over one document.

input_validation -> document_type_router -> provider_selection -> feature_detection
-> (medical?) multi_node_dispatcher -> results_aggregator -> medical_terms_generation
-> quality_gate. The dispatcher runs the selected extraction nodes group by group (priority),
the nodes of a group concurrently in threads; a failing node only adds to `errors`.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mediqom.ai import AIError, structured_call
from mediqom.ai.config import candidates
from mediqom.errors import InvalidInput

from .assess import image_parts, ocr_pages, text_pages
from .coding import code_signals
from .nodes import WRAPPER_KEYS, Node, groups, selected
from .progress import ProgressFn, locked, no_progress, scaled
from .prompts import MEDICAL_SYSTEM
from .provenance import verify_signals
from .schemas import schema
from .terms import medical_terms
from .usage import Usage

MAX_PARALLEL_NODES = 8
SUPPORTED_LANGUAGES = {"English", "Czech", "German"}

FEATURE_FLAGS = (
    "hasSummary", "hasDiagnosis", "hasBodyParts", "hasPerformer", "hasPatient",
    "hasRecommendations", "hasSignals", "hasPrescriptions", "hasImmunizations", "hasImaging",
    "hasDental", "hasAdmission", "hasProcedures", "hasAnesthesia", "hasSpecimens",
    "hasMicroscopic", "hasMolecular", "hasECG", "hasEcho", "hasTriage", "hasTreatments",
    "hasAssessment", "hasTumorCharacteristics", "hasTreatmentPlan", "hasTreatmentResponse",
    "hasImagingFindings", "hasGrossFindings", "hasSpecialStains", "hasAllergies",
    "hasMedications", "hasSocialHistory",
)  # fmt: skip


def _valid_image(url: Any) -> bool:
    return isinstance(url, str) and (url.startswith("data:image/") or url.startswith("http"))


def run_unified_workflow(
    *,
    text: str | None = None,
    images: list[str] | None = None,
    language: str = "English",
    pages: list[dict[str, Any]] | None = None,
    progress: ProgressFn = no_progress,
    usage: Usage | None = None,
) -> dict[str, Any]:
    """The workflow state after all nodes ran (see convert.report_analysis for the output)."""
    emit = locked(progress)
    usage = usage or Usage()
    images = list(images or [])
    state: dict[str, Any] = {"language": language, "errors": [], "qualityChecks": []}
    started = time.monotonic()

    # ---- input_validation 30-40
    emit("input_validation", 30, "Validating input")
    if not images and not (text and text.strip()):
        raise InvalidInput("Either text or images are required", code="import_no_input")
    if not all(_valid_image(url) for url in images):
        raise InvalidInput("Images must be data:image/ or http(s) URLs", code="import_bad_image")
    if language not in SUPPORTED_LANGUAGES:
        state["qualityChecks"].append({"check": "language", "status": "warning"})
    if pages is None:
        if text and text.strip():
            pages = text_pages(text)
        else:
            # The numbers of every value are checked against the text: read it first.
            pages = ocr_pages(
                images=images, language=language, usage=usage, progress=scaled(emit, 30, 40)
            )
    text = "\n".join(str(p["text"]) for p in pages)
    state.update(text=text, pages=pages, images=images)
    content: list[dict[str, Any]] = [{"type": "text", "text": text}, *image_parts(images[:1])]
    emit("input_validation", 40, "Input validated")

    # ---- document_type_router 40-50 (derives its analysis from feature detection below)
    emit("document_type_router", 45, "Preparing document routing")

    # ---- provider_selection 50-60 (informational: models come from config/ai-models.yaml)
    _, chain = candidates("extraction")
    state["selectedProvider"] = chain[0].provider if chain else "local"
    state["fallbackProviders"] = [c.provider for c in chain[1:]]
    emit("provider_selection", 55, f"Provider: {state['selectedProvider']}")

    # ---- feature_detection 60-70
    emit("feature_detection", 60, "Starting feature detection analysis")
    detected = structured_call(
        flow="feature_detection",
        schema=schema("feature_detection"),
        system=MEDICAL_SYSTEM,
        content=content,
        language=language,
    )
    usage.add("feature_detection", detected)
    features = detected.data
    flags = {flag: bool(features.get(flag, False)) for flag in FEATURE_FLAGS}
    is_medical = bool(features.get("isMedical", False))
    flags["isMedical"] = is_medical
    flags["isMedicalImaging"] = bool(flags["hasImaging"] and not text.strip())
    state["featureDetection"] = {
        "type": features.get("documentType", "unknown"),
        "confidence": 0.9 if is_medical else 0,
        "features": features,
    }
    state["featureDetectionResults"] = flags
    state["tags"] = list(features.get("tags") or [])
    state["documentTypeAnalysis"] = {
        "detectedSections": [f for f in FEATURE_FLAGS if flags.get(f)],
        "confidence": state["featureDetection"]["confidence"],
        "documentType": features.get("documentType", "non_medical" if not is_medical else ""),
        "detectedType": features.get("documentType", ""),
        "medicalSpecialty": list(features.get("medicalSpecialty") or []),
        "urgencyLevel": features.get("urgencyLevel", 1),
        "language": features.get("language", ""),
        "contentFeatures": features,
        "sectionFlags": flags,
    }
    emit("feature_detection", 70, "Feature detection completed")
    if not (is_medical or state["featureDetection"]["confidence"] > 0.5):
        state.update(_finish(state, usage, started))
        return state

    # ---- multi_node_dispatcher 70-85
    nodes = selected(flags)
    plan = groups(nodes)
    emit("multi_node_dispatcher", 70, f"Executing {len(nodes)} specialized nodes...")
    node_content: list[dict[str, Any]] = [*image_parts(images), {"type": "text", "text": text}]
    done = 0
    processed: list[str] = []
    widest = max((len(g) for g in plan), default=1)
    with ThreadPoolExecutor(max_workers=max(1, min(widest, MAX_PARALLEL_NODES))) as pool:
        for group in plan:
            futures = [
                (node, pool.submit(_run_node, node, node_content, language, usage, emit))
                for node in group
            ]
            for node, future in futures:
                try:
                    output = future.result()
                except AIError as exc:
                    state["errors"].append({"node": node.name, "code": exc.code})
                    emit(f"{node.name}_error", 0, f"{node.name} failed")
                else:
                    _merge(state, node, output)
                    processed.append(node.name)
                done += 1
                emit(
                    "multi_node_dispatcher",
                    70 + 15 * done / max(len(nodes), 1),
                    f"Completed {node.name} ({done}/{len(nodes)})",
                )
    if isinstance(state.get("signals"), list):
        kept, rejected = verify_signals(state["signals"], pages)
        code_signals(kept, pages)
        state["signals"] = kept
        state["rejectedValues"] = rejected
        if rejected:
            state["qualityChecks"].append(
                {"check": "values_in_document", "status": "rejected", "count": len(rejected)}
            )

    # ---- results_aggregator 85-87
    emit("results_aggregator", 85, "Aggregating results")
    state["multiNodeResults"] = {
        "processedNodes": processed,
        "executionTime": round(time.monotonic() - started, 3),
        "parallelGroups": len(plan),
        "message": f"Processed {len(processed)} of {len(nodes)} nodes",
    }
    emit("results_aggregator", 87, "Results aggregated")

    # ---- medical_terms_generation 87-90
    emit("medical_terms_generation", 87, "Generating medical terms")
    state["medicalTermsGeneration"] = medical_terms(state)
    emit("medical_terms_generation", 90, "Medical terms generated")

    # ---- quality_gate 98-100
    state.update(_finish(state, usage, started))
    emit("quality_gate", 100, "Quality gate completed")
    return state


def _run_node(
    node: Node,
    content: list[dict[str, Any]],
    language: str,
    usage: Usage,
    emit: ProgressFn,
) -> Any:
    label = node.name.replace("-processing", "")
    emit(f"{node.name}_schema_loading", 70, f"Loading {label} analysis schema")
    function = schema(node.schema)
    emit(f"{node.name}_ai_processing", 70, f"Extracting {label} data with AI")
    result = structured_call(
        flow="extraction",
        schema=function,
        system=MEDICAL_SYSTEM,
        content=content,
        language=language,
    )
    usage.add(function["name"], result)
    emit(f"{node.name}_completion", 85, f"{label.capitalize()} processing completed")
    data = {k: v for k, v in result.data.items() if k not in WRAPPER_KEYS}
    if node.unwrap and node.unwrap in data:
        return data[node.unwrap]
    return data


def _merge(state: dict[str, Any], node: Node, output: Any) -> None:
    if output in (None, {}, []):
        return
    if node.main_report:
        state["report"] = {**(state.get("report") or {}), **output}
    else:
        state[node.output] = output


def _finish(state: dict[str, Any], usage: Usage, started: float) -> dict[str, Any]:
    """quality_gate: the reference's confidence rule, non-blocking, plus our own checks."""
    confidence = 0.8
    checks = list(state.get("qualityChecks", []))
    if state.get("errors"):
        confidence *= 0.5
        checks.append({"check": "node_errors", "status": "failed", "count": len(state["errors"])})
    if not (state.get("report") or {}).get("content"):
        confidence *= 0.3
        checks.append({"check": "content", "status": "missing"})
    if not state.get("signals"):
        confidence *= 0.9
        checks.append({"check": "signals", "status": "none"})
    if usage.local:
        confidence *= 0.9
        checks.append({"check": "provider", "status": "local"})
    return {
        "confidence": round(confidence, 4),
        "qualityChecks": checks,
        "tokenUsage": dict(usage.tokens),
        "processing": usage.label(),
        "executionTime": round(time.monotonic() - started, 3),
    }
