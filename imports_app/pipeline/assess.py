"""Stage 1 (contract 7.2): OCR pass over page images, document assessment, merge.

Plain text input (beyond the reference) skips the OCR pass: each form feed starts a page.
"""

from __future__ import annotations

from typing import Any

from mediqom.ai import structured_call
from mediqom.ai.schema import clean_text

from .progress import ProgressFn, no_progress
from .prompts import MEDICAL_SYSTEM, OCR_SYSTEM
from .schemas import schema
from .usage import Usage

MAX_PAGE_TEXT = 200_000


def image_parts(images: list[str]) -> list[dict[str, Any]]:
    return [{"type": "image_url", "image_url": {"url": url, "detail": "high"}} for url in images]


def ocr_pages(
    *, images: list[str], language: str, usage: Usage, progress: ProgressFn = no_progress
) -> list[dict[str, Any]]:
    """[{page, text}] for every input image, in input order (the model's extras dropped)."""
    progress("ocr_extraction", 50, f"Extracting text from {len(images)} page(s)")
    result = structured_call(
        flow="ocr_extraction",
        schema=schema("ocr_extractor"),
        system=OCR_SYSTEM,
        content=[
            {"type": "text", "text": "Extract the text of these pages."},
            *image_parts(images),
        ],
        language=language,
    )
    usage.add("ocr_extractor", result)
    by_page: dict[int, str] = {}
    for item in result.data.get("pages", []):
        number = item.get("page")
        if isinstance(number, int) and 1 <= number <= len(images) and number not in by_page:
            by_page[number] = clean_text(str(item.get("text", "")), limit=MAX_PAGE_TEXT)
    return [{"page": n, "text": by_page.get(n, "")} for n in range(1, len(images) + 1)]


def text_pages(text: str) -> list[dict[str, Any]]:
    parts = [clean_text(part, limit=MAX_PAGE_TEXT) for part in text.split("\f")]
    parts = [p for p in parts if p.strip()] or [""]
    return [{"page": n, "text": p} for n, p in enumerate(parts, start=1)]


def pages_text(pages: list[dict[str, Any]]) -> str:
    return "\n".join(f"--- PAGE {p['page']} ---\n{p['text']}" for p in pages)


def assess(
    *,
    images: list[str] | None = None,
    text: str | None = None,
    language: str = "English",
    progress: ProgressFn = no_progress,
    usage: Usage | None = None,
) -> dict[str, Any]:
    """The Assessment: {pages:[{page, text, language, images}], documents:[...], tokenUsage}."""
    usage = usage or Usage()
    progress("ai_processing", 40, "Reading the document")
    if images:
        pages = ocr_pages(images=images, language=language, usage=usage, progress=progress)
    else:
        pages = text_pages(text or "")
    progress("ai_processing", 60, "Assessing the documents")
    result = structured_call(
        flow="document_type_routing",
        schema=schema("document_assessor"),
        system=MEDICAL_SYSTEM,
        content=pages_text(pages),
        language=language,
    )
    usage.add("document_assessor", result)
    documents = _documents(result.data.get("documents", []), len(pages))
    progress("ai_processing", 70, f"Identified {len(documents)} document(s)")
    owner = {n: doc for doc in documents for n in doc["pages"]}
    return {
        "pages": [
            {
                "page": p["page"],
                "text": p["text"],
                "language": owner.get(p["page"], {}).get("language", ""),
                "images": [],
            }
            for p in pages
        ],
        "documents": documents,
        "tokenUsage": dict(usage.tokens),
    }


def _documents(raw: list[dict[str, Any]], page_count: int) -> list[dict[str, Any]]:
    """Documents with valid, non-overlapping page lists; uncovered pages join a document."""
    documents: list[dict[str, Any]] = []
    claimed: set[int] = set()
    for item in raw:
        pages = sorted(
            {n for n in item.get("pages", []) if 1 <= n <= page_count and n not in claimed}
        )
        if not pages:
            continue
        claimed.update(pages)
        document = {
            "title": item.get("title", ""),
            "date": item.get("date", ""),
            "language": item.get("language", ""),
            "isMedical": bool(item.get("isMedical", True)),
            "pages": pages,
        }
        if "isMedicalImaging" in item:
            document["isMedicalImaging"] = bool(item["isMedicalImaging"])
        documents.append(document)
    rest = [n for n in range(1, page_count + 1) if n not in claimed]
    if rest:
        if documents:
            documents[-1]["pages"] = sorted(documents[-1]["pages"] + rest)
        else:
            documents.append(
                {"title": "", "date": "", "language": "", "isMedical": True, "pages": rest}
            )
    return documents
