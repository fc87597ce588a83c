"""Import pipeline wall time vs. the critical path of its node graph (not a test).

The AI stub (tests/ai_stub.py, a real HTTP server; the real OpenAI client calls it) answers
every model call after a fixed delay D. One job of one file runs: OCR pass and document
assessment (2 sequential calls), then the unified workflow: feature detection (1 call) and the
triggered extraction nodes, grouped by priority; nodes of a group run concurrently. The critical
path is D x (2 + 1 + number of groups): the lower bound if concurrency were free. The peer is
the same pipeline with one node at a time (MAX_PARALLEL_NODES = 1), i.e. D x number of calls.

Second part: throughput of the offline `local` provider (imports_app.local.assess_local) in
pages per second, on the Czech lab report of tests/imports as a text-layer PDF page and as a
150 dpi page image (OCR, the path of the client's rasterised pages).

    .venv/bin/python bench/import_pipeline.py [--delay 0.25] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from imports_app.pipeline import workflow  # noqa: E402
from imports_app.pipeline.assess import assess  # noqa: E402
from imports_app.pipeline.nodes import groups, selected  # noqa: E402
from tests.ai_stub import AIStub  # noqa: E402
from tests.imports_app.test_pipeline import (  # noqa: E402
    FEATURES,
    PAGE_1,
    PAGE_2,
    REPORT,
    SIGNALS,
)

# Flags that trigger nodes in priority groups 1, 2, 3 and 5.
FLAGS = {**FEATURES, "hasMedications": True, "hasProcedures": True, "hasAssessment": True}
IMAGE = "data:image/png;base64,iVBORw0KGgo="


def program(stub: AIStub, delay: float) -> None:
    stub.reply(
        tool="ocr_extractor",
        args={"pages": [{"page": 1, "text": PAGE_1}, {"page": 2, "text": PAGE_2}]},
        delay=delay,
    )
    stub.reply(
        tool="document_assessor",
        args={"documents": [{"title": "Biochemie", "date": "2026-11-20", "language": "cs",
                             "isMedical": True, "isMedicalImaging": False, "hasImages": False,
                             "pages": [1, 2]}]},
        delay=delay,
    )  # fmt: skip
    stub.reply(tool="feature_detection", args=FLAGS, delay=delay)
    stub.reply(tool="extract_medical_report_core", args=REPORT, delay=delay)
    stub.reply(tool="extract_signals", args={"signals": SIGNALS}, delay=delay)
    stub.reply(args=empty_answer, delay=delay)  # every other node: an empty, valid answer


EMPTY = {"array": [], "object": {}, "string": "", "boolean": False, "number": 0, "integer": 0}


def empty_answer(request: Any) -> dict[str, Any]:
    """Empty values for the root keys the request's function requires."""
    parameters = request.body["tools"][0]["function"]["parameters"]
    properties = parameters.get("properties", {})
    answer: dict[str, Any] = {}
    for key in parameters.get("required", []):
        spec = properties.get(key, {})
        enum = spec.get("enum")
        answer[key] = enum[0] if enum else EMPTY.get(str(spec.get("type")))
    return answer


STUB = AIStub()


def one_job(delay: float) -> tuple[float, int]:
    """(wall seconds, model calls) of OCR + assessment + the workflow for the document.
    One stub serves every run, as one provider serves a server (its clients are reused)."""
    if STUB.server is None:
        STUB.start()
    settings.OPENAI_API_KEY = "sk-bench"
    settings.OPENAI_BASE_URL = STUB.openai_base_url
    settings.MEDIQOM_AI_TIMEOUT_MS = 30_000
    settings.MEDIQOM_AI_MAX_RETRIES = 0
    STUB.clear()
    program(STUB, delay)
    started = time.perf_counter()
    assessment = assess(images=[IMAGE], language="Czech")
    pages = assessment["pages"]
    workflow.run_unified_workflow(
        text="\n".join(p["text"] for p in pages), pages=pages, language="Czech"
    )
    return time.perf_counter() - started, len(STUB.requests)


def measure(delay: float, runs: int, parallel: int) -> tuple[float, int]:
    workflow.MAX_PARALLEL_NODES = parallel
    one_job(delay)  # warm-up: imports, client construction
    results = [one_job(delay) for _ in range(runs)]
    return statistics.median(r[0] for r in results), results[0][1]


def local_throughput(runs: int) -> list[tuple[str, float]]:
    """(input kind, pages per second) of the offline provider."""
    import base64
    import subprocess
    import tempfile

    from imports_app.local import assess_local
    from tests.imports.conftest import report_pdf
    from tests.imports.lab_reports import CZECH

    pdf = report_pdf(CZECH)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "r.pdf").write_bytes(pdf)
        subprocess.run(
            ["pdftoppm", "-r", "150", "-png", "-singlefile", f"{tmp}/r.pdf", f"{tmp}/p"],
            check=True,
        )
        png = (Path(tmp) / "p.png").read_bytes()
    image = "data:image/png;base64," + base64.b64encode(png).decode()
    out = []
    for kind, page in (("text-layer PDF page", pdf), ("page image (OCR)", image)):
        assess_local(pages=[page], language="cs")  # warm-up
        started = time.perf_counter()
        for _ in range(runs):
            assess_local(pages=[page], language="cs")
        out.append((kind, runs / (time.perf_counter() - started)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay", type=float, default=0.25)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    nodes = selected({**FLAGS, "isMedical": True})
    plan = groups(nodes)
    critical = args.delay * (2 + 1 + len(plan))
    ours, calls = measure(args.delay, args.runs, parallel=8)
    peer, _ = measure(args.delay, args.runs, parallel=1)
    print(f"delay per model call: {args.delay:.3f} s; {calls} calls; {len(nodes)} nodes in "
          f"{len(plan)} priority groups {[len(g) for g in plan]}")  # fmt: skip
    print("| run | wall (s) | critical path (s) | wall / critical path |")
    print("|---|---:|---:|---:|")
    print(f"| ours: nodes of a group concurrent | {ours:.3f} | {critical:.3f} | "
          f"{ours / critical:.3f} |")  # fmt: skip
    print(f"| peer: one node at a time | {peer:.3f} | {critical:.3f} | {peer / critical:.3f} |")
    print(f"speed-up ours vs peer: {peer / ours:.2f}x")
    STUB.stop()
    print()
    print("| local provider input | pages per second |")
    print("|---|---:|")
    for kind, rate in local_throughput(args.runs):
        print(f"| {kind} | {rate:.2f} |")


if __name__ == "__main__":
    main()
