"""Page images of validated inputs: PDF pages rendered (pypdfium2), 512 px thumbnails, and a
perceptual fingerprint that recognises a page already imported (and charged) in a job.

Every function takes bytes that imports_app.validation has already checked (type, size, pixel
and page caps), so decoding here is bounded.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

from PIL import Image

THUMBNAIL_SIZE = 512  # the client's THUMBNAIL_SIZE (src/lib/files/CONFIG.ts)
PROCESS_SIZE = 2048  # the client's PROCESS_SIZE: page images sent to a model
FINGERPRINT_TOLERANCE = 6  # differing bits of 64 that still count as the same page


def _jpeg_data_url(image: Image.Image, *, quality: int) -> str:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def thumbnail(data: bytes) -> str:
    """A JPEG data URL of the page, at most THUMBNAIL_SIZE px a side."""
    with _open(data) as image:
        small = image.convert("RGB")
        small.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        return _jpeg_data_url(small, quality=80)


def fingerprint(data: bytes) -> str:
    """64-bit difference hash of the page (16 hex digits): stable across re-encoding and
    resizing, one-way (nothing of the page can be read back from it)."""
    with _open(data) as image:
        gray = image.convert("L").resize((9, 8), Image.Resampling.BOX)
    pixels = gray.tobytes()
    bits = 0
    for row in range(8):
        for column in range(8):
            left, right = pixels[row * 9 + column], pixels[row * 9 + column + 1]
            bits = (bits << 1) | (1 if left > right else 0)
    return f"{bits:016x}"


def same_pages(left: list[str], right: list[str]) -> bool:
    """Whether two page lists are the same document: as many pages, each one alike."""
    if not left or len(left) != len(right):
        return False
    try:
        return all(
            bin(int(a, 16) ^ int(b, 16)).count("1") <= FINGERPRINT_TOLERANCE
            for a, b in zip(left, right, strict=True)
        )
    except ValueError:
        return False


@dataclass(frozen=True)
class Page:
    """One page of an extract request: the image a model reads, its thumbnail, fingerprint."""

    image: str  # a data URL of an image (a PDF page rendered at PROCESS_SIZE)
    thumbnail: str
    fingerprint: str


def image_page(data_url: str, data: bytes) -> Page:
    return Page(image=data_url, thumbnail=thumbnail(data), fingerprint=fingerprint(data))


def pdf_page_images(data: bytes) -> list[bytes]:
    """Every page of a validated PDF rendered to PNG, at most PROCESS_SIZE px a side."""
    import pypdfium2

    document = pypdfium2.PdfDocument(data)
    out: list[bytes] = []
    try:
        for index in range(len(document)):
            page = document[index]
            width, height = page.get_size()
            scale = min(PROCESS_SIZE / max(width, height, 1.0), 200 / 72)
            image = page.render(scale=scale).to_pil()
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, format="PNG", optimize=False)
            out.append(buffer.getvalue())
            page.close()
    finally:
        document.close()
    return out


def pdf_pages(data: bytes) -> list[Page]:
    pages = []
    for png in pdf_page_images(data):
        url = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        pages.append(Page(image=url, thumbnail=thumbnail(png), fingerprint=fingerprint(png)))
    return pages


def attach_thumbnails(assessment: dict[str, object], thumbnails: list[str]) -> None:
    """`thumbnail` on each page of an Assessment (page n is input page n), for the client's
    finaliser, which then needs no `/v1/import/extract` call to make one."""
    pages = assessment.get("pages")
    for page in pages if isinstance(pages, list) else []:
        number = page.get("page") if isinstance(page, dict) else None
        if isinstance(number, int) and 1 <= number <= len(thumbnails):
            page["thumbnail"] = thumbnails[number - 1]
