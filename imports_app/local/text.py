"""Text out of inputs, without AI: the PDF text layer (pypdf) and Tesseract OCR of page images."""

from __future__ import annotations

import base64
import binascii
import io
import shutil
from dataclasses import dataclass

import pypdfium2
import pytesseract
from PIL import Image, ImageFilter, ImageOps
from pypdf import PdfReader
from pypdf.errors import PdfReadError

from mediqom.errors import ApiError, PayloadTooLarge

# A page with fewer characters than this in its text layer is treated as scanned and OCR'd.
MIN_TEXT_LAYER_CHARS = 40
OCR_TIMEOUT_SECONDS = 60
OCR_LANGUAGES = {"en": "eng", "cs": "ces", "de": "deu"}
MAX_OCR_SIDE = 4000  # pixels; larger pages are scaled down before OCR
RENDER_DPI = 200
MAX_PDF_PAGES = 500  # validation caps uploads lower; this guards direct callers


class OcrUnavailable(ApiError):
    status = 503
    code = "ocr_unavailable"
    default_message = "Text recognition (Tesseract) is not installed on this server"


class OcrFailed(ApiError):
    status = 422
    code = "ocr_failed"
    default_message = "Text recognition failed for a page"


class UnreadableInput(ApiError):
    status = 422
    code = "unreadable_input"
    default_message = "A page could not be read"


@dataclass(frozen=True)
class PageText:
    page: int
    text: str
    method: str  # "text" (given as text), "pdf-text-layer" or "ocr"


def tesseract_languages(language: str | None) -> str:
    """'ces+eng+deu' with the hinted language first (Tesseract prefers the first model)."""
    order = ["en", "cs", "de"]
    if language in OCR_LANGUAGES:
        order.remove(language)
        order.insert(0, language)
    return "+".join(OCR_LANGUAGES[code] for code in order)


def _require_tesseract() -> None:
    command = str(pytesseract.pytesseract.tesseract_cmd)
    if shutil.which(command) is None:
        raise OcrUnavailable()


def _row_darkness(image: Image.Image) -> list[float]:
    """Mean darkness (0..1) of each pixel row of a grayscale image."""
    column = ImageOps.invert(image).resize((1, image.height), Image.Resampling.BOX)
    return [value / 255 for value in column.tobytes()]


def _skew_angle(gray: Image.Image) -> float:
    """The small rotation (±4°) that makes text rows sharpest (projection-profile variance)."""
    small = gray.copy()
    small.thumbnail((800, 800))
    binary = small.point(lambda v: 0 if v < 160 else 255)

    def sharpness(angle: float) -> float:
        rows = _row_darkness(
            binary.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=255)
        )
        mean = sum(rows) / len(rows)
        return sum((r - mean) ** 2 for r in rows)

    coarse = max((a / 2 for a in range(-8, 9)), key=sharpness)
    return max((coarse + a / 10 for a in range(-5, 6)), key=sharpness)


def _remove_rules(gray: Image.Image) -> Image.Image:
    """Blank table rules: pixel rows with one unbroken dark run across a third of the page.

    Text rows have gaps between letters and words; a rule does not. Each row is averaged over
    cells of 16 pixels, so the scan is over a small image.
    """
    binary = gray.point(lambda v: 255 if v < 170 else 0)
    cells = binary.resize((max(gray.width // 16, 1), gray.height), Image.Resampling.BOX)
    width = cells.width
    data = cells.tobytes()
    cleaned = gray.copy()
    for y in range(cells.height):
        run = longest = 0
        for value in data[y * width : (y + 1) * width]:
            run = run + 1 if value > 200 else 0
            longest = max(longest, run)
        if longest > width / 3:
            cleaned.paste(255, (0, max(y - 1, 0), gray.width, y + 2))
    return cleaned


def _prepare(image: Image.Image) -> Image.Image:
    gray = ImageOps.exif_transpose(image).convert("L")
    longest = max(gray.size)
    if longest > MAX_OCR_SIDE:
        gray.thumbnail((MAX_OCR_SIDE, MAX_OCR_SIDE))
    elif longest < 3000:
        factor = 3000 / longest
        gray = gray.resize(
            (int(gray.width * factor), int(gray.height * factor)), Image.Resampling.LANCZOS
        )
    gray = ImageOps.autocontrast(gray.filter(ImageFilter.MedianFilter(3)), cutoff=1)
    angle = _skew_angle(gray)
    if abs(angle) >= 0.1:
        gray = gray.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    return _remove_rules(gray)


def ocr_image(image: Image.Image, *, language: str | None = None) -> str:
    """Tesseract on one page image; a clear error when the binary is missing or too slow."""
    _require_tesseract()
    try:
        text = pytesseract.image_to_string(
            _prepare(image),
            lang=tesseract_languages(language),
            config="--psm 6",
            timeout=OCR_TIMEOUT_SECONDS,
        )
    except pytesseract.TesseractNotFoundError as exc:
        raise OcrUnavailable() from exc
    except (RuntimeError, pytesseract.TesseractError) as exc:
        raise OcrFailed() from exc
    return str(text)


def decode_data_url(url: str) -> bytes:
    header, _, payload = url.partition(",")
    if not header.startswith("data:") or ";base64" not in header:
        raise UnreadableInput("A page image must be a base64 data URL")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UnreadableInput("A page image is not valid base64") from exc


def open_image(data: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, Image.DecompressionBombError, ValueError) as exc:
        raise UnreadableInput("A page image could not be decoded") from exc
    return image


def pdf_pages(data: bytes, *, language: str | None = None, first_page: int = 1) -> list[PageText]:
    """Each page's text layer (layout-preserving); pages without one are rendered and OCR'd."""
    try:
        reader = PdfReader(io.BytesIO(data))
        layer: list[str] = []
        for page in reader.pages:
            if len(layer) >= MAX_PDF_PAGES:
                raise PayloadTooLarge("The PDF has too many pages", code="too_many_pages")
            layer.append(page.extract_text(extraction_mode="layout") or "")
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise UnreadableInput("The PDF could not be read") from exc
    out: list[PageText] = []
    document: pypdfium2.PdfDocument | None = None
    try:
        for index, text in enumerate(layer):
            number = first_page + index
            if len(text.strip()) >= MIN_TEXT_LAYER_CHARS:
                out.append(PageText(page=number, text=_tidy(text), method="pdf-text-layer"))
                continue
            if document is None:
                document = pypdfium2.PdfDocument(data)
            bitmap = document[index].render(scale=RENDER_DPI / 72)
            image = bitmap.to_pil()
            out.append(
                PageText(page=number, text=ocr_image(image, language=language), method="ocr")
            )
    finally:
        if document is not None:
            document.close()
    return out


def _tidy(text: str) -> str:
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())
