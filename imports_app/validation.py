"""Import inputs checked before any AI call or scan charge: page images, PDFs and plain text.

The type comes from the bytes (magic numbers), never from the declared MIME type or file name;
a declared type that disagrees with the bytes is rejected. Sizes, pixel counts, page counts and
decompressed stream sizes are capped, each checked before the expensive step it guards. Errors
are DomainErrors with stable codes; their messages never contain document content.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import struct
import unicodedata
import zlib
from dataclasses import dataclass

from PIL import Image

from mediqom.errors import ApiError, InvalidInput, PayloadTooLarge

# Magic numbers of the formats we accept, and of others we name in errors.
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
PDF_MAGIC = b"%PDF-"
IMAGE_TYPES = {"image/png", "image/jpeg", "image/webp"}
_OTHER_MAGIC = (
    b"PK\x03\x04",
    b"GIF8",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"\x7fELF",
    b"MZ",
    b"\x1f\x8b",
)
_MARKUP = re.compile(rb"^\s*<(?:!doctype|html|\?xml|svg|script|body|head)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 25 * 1024 * 1024
    max_image_bytes: int = 15 * 1024 * 1024
    max_image_pixels: int = 40_000_000  # the client sends <= 2048 px a side (4.2 MP)
    max_image_side: int = 12_000
    max_pdf_pages: int = 200
    max_pdf_decompressed_bytes: int = 256 * 1024 * 1024
    max_text_chars: int = 1_000_000
    max_files: int = 50
    max_pages_per_job: int = 500
    max_name_chars: int = 120


DEFAULT_LIMITS = Limits()


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"
    default_message = "Only PNG, JPEG or WebP images, PDF documents and plain text are accepted"


class MediaTypeMismatch(ApiError):
    status = 415
    code = "media_type_mismatch"
    default_message = "The file's content does not match its declared type"


class PolyglotFile(ApiError):
    status = 415
    code = "polyglot_file"
    default_message = "The file carries a second file format inside it"


class InvalidDocument(ApiError):
    status = 422
    code = "invalid_document"
    default_message = "The document could not be read"


@dataclass(frozen=True)
class ImageInput:
    media_type: str
    data: bytes
    width: int
    height: int


@dataclass(frozen=True)
class PdfInput:
    data: bytes
    pages: int


@dataclass(frozen=True)
class TextInput:
    text: str


ValidInput = ImageInput | PdfInput | TextInput


def sniff(data: bytes) -> str | None:
    """The media type the bytes themselves say, for the formats we accept."""
    if data.startswith(PNG_MAGIC):
        return "image/png"
    if data.startswith(JPEG_MAGIC):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(PDF_MAGIC):
        return "application/pdf"
    return None


def safe_filename(name: str | None, *, limits: Limits = DEFAULT_LIMITS) -> str:
    """A display name that cannot name a path: no folders, control characters, leading dots."""
    text = unicodedata.normalize("NFKC", name or "")
    text = re.split(r"[\\/]", text)[-1]
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = re.sub(r"\s+", " ", text).strip().lstrip(".").strip()
    if re.fullmatch(r"(?i)(con|prn|aux|nul|com\d|lpt\d)(\..*)?", text):
        text = f"_{text}"
    if len(text) > limits.max_name_chars:
        stem, dot, ext = text.rpartition(".")
        ext = ext[:10] if dot else ""
        text = (stem if dot else text)[: limits.max_name_chars - len(ext) - 1] + (
            f".{ext}" if ext else ""
        )
    return text or "document"


def _check_declared(declared: str | None, actual: str) -> None:
    if not declared:
        return
    declared = declared.split(";")[0].strip().lower()
    if declared in {"image/jpg", "image/pjpeg"}:
        declared = "image/jpeg"
    if declared != actual and declared not in {"application/octet-stream", ""}:
        raise MediaTypeMismatch()


def _reject_other_formats(data: bytes) -> None:
    if any(data.startswith(magic) for magic in _OTHER_MAGIC):
        raise UnsupportedMediaType()


# ----------------------------------------------------------------------------- images


def _png_size(data: bytes) -> tuple[int, int]:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise InvalidDocument("The PNG image is truncated or corrupt", code="image_corrupt")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _check_pixels(width: int, height: int, limits: Limits) -> None:
    if width <= 0 or height <= 0:
        raise InvalidDocument("The image has no pixels", code="image_corrupt")
    if width * height > limits.max_image_pixels or max(width, height) > limits.max_image_side:
        raise PayloadTooLarge("The image has too many pixels", code="image_too_many_pixels")


def _png_trailer(data: bytes) -> bytes:
    """Bytes after the IEND chunk (where polyglots hide a second file)."""
    end = data.rfind(b"IEND")
    return data[end + 8 :] if end >= 0 else b""


def validate_image(
    data: bytes, *, declared_type: str | None = None, limits: Limits = DEFAULT_LIMITS
) -> ImageInput:
    if len(data) > limits.max_image_bytes:
        raise PayloadTooLarge("The image is too large", code="image_too_large")
    actual = sniff(data)
    if actual not in IMAGE_TYPES:
        if actual == "application/pdf":
            raise MediaTypeMismatch()
        raise UnsupportedMediaType()
    assert actual is not None
    _check_declared(declared_type, actual)
    if PDF_MAGIC in data[:1024] or (actual == "image/png" and _png_trailer(data).strip(b"\0")):
        raise PolyglotFile()
    if actual == "image/png":
        _check_pixels(*_png_size(data), limits)
    try:
        with Image.open(io.BytesIO(data)) as probe:  # reads the header only
            width, height = probe.size
            _check_pixels(width, height, limits)
            if (probe.format or "").lower() not in {"png", "jpeg", "webp"}:
                raise UnsupportedMediaType()
            probe.load()  # bounded: the pixel count is known to be within the cap
    except ApiError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's own MAX_IMAGE_PIXELS check
        raise PayloadTooLarge(
            "The image has too many pixels", code="image_too_many_pixels"
        ) from exc
    except (OSError, ValueError, SyntaxError, struct.error) as exc:
        raise InvalidDocument("The image is truncated or corrupt", code="image_corrupt") from exc
    return ImageInput(media_type=actual, data=data, width=width, height=height)


_DATA_URL = re.compile(
    r"data:(?P<type>[\w.+-]+/[\w.+-]+)(?P<params>(?:;[\w.+-]+=[\w.+-]+)*);base64,"
)


def validate_data_url(url: str, *, limits: Limits = DEFAULT_LIMITS) -> ImageInput:
    """A page image as the client sends it: `data:image/jpeg;base64,...` (≤ 2048 px a side)."""
    if not isinstance(url, str):
        raise InvalidInput("A page image must be a data URL", code="invalid_data_url")
    if len(url) > limits.max_image_bytes * 4 // 3 + 256:  # checked before decoding
        raise PayloadTooLarge("The image is too large", code="image_too_large")
    header = _DATA_URL.match(url[:256])
    if header is None:
        raise InvalidInput("A page image must be a base64 data URL", code="invalid_data_url")
    try:
        data = base64.b64decode(url[header.end() :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("A page image is not valid base64", code="invalid_data_url") from exc
    if not data:
        raise InvalidInput("A page image is empty", code="empty_input")
    return validate_image(data, declared_type=header.group("type"), limits=limits)


# ----------------------------------------------------------------------------- PDF

_STREAM = re.compile(rb"stream\r?\n")
_ENDSTREAM = b"endstream"
_FLATE = re.compile(rb"/(?:FlateDecode|Fl)\b")
_PAGE_OBJECT = re.compile(rb"/Type\s*/Page(?![A-Za-z])")
_COUNT = re.compile(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)|/Count\s+(\d+)[^>]*?/Type\s*/Pages\b")


def _inflate_budget(data: bytes, limits: Limits) -> None:
    """Inflate every FlateDecode stream in bounded chunks, discarding the output, against one
    budget for the whole file: a bomb stops at the cap instead of filling memory."""
    budget = limits.max_pdf_decompressed_bytes
    position = 0
    while True:
        match = _STREAM.search(data, position)
        if match is None:
            return
        start = match.end()
        end = data.find(_ENDSTREAM, start)
        if end < 0:
            raise InvalidDocument("The PDF is truncated or corrupt", code="pdf_corrupt")
        dictionary = data[max(0, match.start() - 2048) : match.start()]
        dictionary = dictionary[dictionary.rfind(b"obj") + 3 :]
        position = end + len(_ENDSTREAM)
        if not _FLATE.search(dictionary):
            continue
        inflater = zlib.decompressobj()
        chunk = data[start:end]
        try:
            produced = inflater.decompress(chunk, 1 << 20)
            budget -= len(produced)
            while inflater.unconsumed_tail and budget >= 0:
                produced = inflater.decompress(inflater.unconsumed_tail, 1 << 20)
                budget -= len(produced)
        except zlib.error:
            continue  # a damaged stream is pdfium's problem below, not a bomb
        if budget < 0:
            raise PayloadTooLarge("The PDF expands to too much data", code="pdf_decompression_bomb")


def _declared_page_count(data: bytes) -> int | None:
    counts = [int(a or b) for a, b in _COUNT.findall(data)]
    return max(counts) if counts else None


def _walked_page_count(data: bytes, limits: Limits) -> int:
    """Leaves of the page tree as pypdf walks it, stopping one past the cap: a /Count can lie
    and page objects can hide in compressed object streams, where the byte scan cannot see."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        walked = 0
        for _ in reader.pages:
            walked += 1
            if walked > limits.max_pdf_pages:
                break
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise InvalidDocument("The PDF is truncated or corrupt", code="pdf_corrupt") from exc
    return walked


def validate_pdf(
    data: bytes, *, declared_type: str | None = None, limits: Limits = DEFAULT_LIMITS
) -> PdfInput:
    import pypdfium2

    if len(data) > limits.max_file_bytes:
        raise PayloadTooLarge("The PDF is too large", code="file_too_large")
    if not data.startswith(PDF_MAGIC):
        raise UnsupportedMediaType()
    _check_declared(declared_type, "application/pdf")
    if b"%%EOF" not in data[-2048:]:
        raise InvalidDocument("The PDF is truncated or corrupt", code="pdf_corrupt")
    if re.search(rb"/Encrypt\s", data[-65536:]) or re.search(rb"/Encrypt\s*\d+\s+\d+\s+R", data):
        raise InvalidDocument("Encrypted PDFs cannot be imported", code="pdf_encrypted")
    declared = _declared_page_count(data)  # the page tree root's /Count, read without parsing
    page_objects = len(_PAGE_OBJECT.findall(data))  # a /Count can lie; uncompressed pages can't
    if max(declared or 0, page_objects) > limits.max_pdf_pages:
        raise PayloadTooLarge("The PDF has too many pages", code="too_many_pages")
    _inflate_budget(data, limits)
    try:
        document = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        message = str(exc).lower()
        if "password" in message or "security" in message:
            raise InvalidDocument(
                "Encrypted PDFs cannot be imported", code="pdf_encrypted"
            ) from exc
        raise InvalidDocument("The PDF is truncated or corrupt", code="pdf_corrupt") from exc
    try:
        pages = len(document)  # pdfium believes the root's /Count
    finally:
        document.close()
    pages = max(pages, _walked_page_count(data, limits))
    if pages > limits.max_pdf_pages:
        raise PayloadTooLarge("The PDF has too many pages", code="too_many_pages")
    if pages == 0:
        raise InvalidDocument("The PDF has no pages", code="pdf_corrupt")
    return PdfInput(data=data, pages=pages)


# ----------------------------------------------------------------------------- text


def validate_text(text: str | bytes, *, limits: Limits = DEFAULT_LIMITS) -> TextInput:
    if isinstance(text, bytes):
        if len(text) > limits.max_text_chars * 4:
            raise PayloadTooLarge("The text is too long", code="text_too_long")
        if sniff(text) is not None or _MARKUP.match(text[:512]):
            raise MediaTypeMismatch()
        _reject_other_formats(text)
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput("Text must be UTF-8", code="text_not_utf8") from exc
    if len(text) > limits.max_text_chars:
        raise PayloadTooLarge("The text is too long", code="text_too_long")
    if "\x00" in text:
        raise InvalidInput("Text must not contain NUL characters", code="text_binary")
    if not text.strip():
        raise InvalidInput("The text is empty", code="empty_input")
    return TextInput(text=unicodedata.normalize("NFC", text))


# ----------------------------------------------------------------------------- uploads


def validate_upload(
    data: bytes,
    *,
    name: str | None = None,
    declared_type: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[str, ValidInput]:
    """One uploaded file → (safe display name, validated input), typed by its bytes."""
    safe = safe_filename(name, limits=limits)
    if len(data) > limits.max_file_bytes:
        raise PayloadTooLarge("The file is too large", code="file_too_large")
    if not data:
        raise InvalidInput("The file is empty", code="empty_input")
    actual = sniff(data)
    if actual == "application/pdf":
        return safe, validate_pdf(data, declared_type=declared_type, limits=limits)
    if actual in IMAGE_TYPES:
        return safe, validate_image(data, declared_type=declared_type, limits=limits)
    declared = (declared_type or "").split(";")[0].strip().lower()
    if declared.startswith("text/") or (not declared and _looks_like_text(data)):
        if declared not in {"", "text/plain"}:
            raise UnsupportedMediaType()
        return safe, validate_text(data, limits=limits)
    raise UnsupportedMediaType()


def _looks_like_text(data: bytes) -> bool:
    head = data[:4096]
    return b"\x00" not in head and not any(head.startswith(m) for m in _OTHER_MAGIC)


def validate_pages(pages: object, *, limits: Limits = DEFAULT_LIMITS) -> list[ImageInput]:
    """A task's `processedImages` (§7.1): a list of image data URLs, capped in count."""
    if not isinstance(pages, list) or not pages:
        raise InvalidInput("A file needs at least one page image", code="empty_input")
    if len(pages) > limits.max_pages_per_job:
        raise PayloadTooLarge("Too many pages", code="too_many_pages")
    return [validate_data_url(page, limits=limits) for page in pages]


def validate_document_data_url(
    url: str, *, limits: Limits = DEFAULT_LIMITS
) -> ImageInput | PdfInput:
    """A page image or a whole PDF carried in JSON as a data URL (`data:application/pdf;...`)."""
    if not isinstance(url, str):
        raise InvalidInput("A document must be a data URL", code="invalid_data_url")
    header = _DATA_URL.match(url[:256])
    if header is None or header.group("type").lower() != "application/pdf":
        return validate_data_url(url, limits=limits)
    if len(url) > limits.max_file_bytes * 4 // 3 + 256:  # checked before decoding
        raise PayloadTooLarge("The PDF is too large", code="file_too_large")
    try:
        data = base64.b64decode(url[header.end() :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("A document is not valid base64", code="invalid_data_url") from exc
    return validate_pdf(data, declared_type="application/pdf", limits=limits)


# ----------------------------------------------------------------------------- job requests

TASK_TYPES = {"application/pdf", "images", "application/dicom"}
MAX_DICOM_METADATA_CHARS = 64 * 1024


@dataclass(frozen=True)
class JobFile:
    """One `FileManifestEntry` of `POST /v1/import/jobs` (§2.3, §12), validated."""

    name: str
    type: str
    size: int
    task_type: str
    pages: list[ImageInput]
    thumbnail: ImageInput | None
    dicom_metadata: dict[str, object] | None


def _field_error(path: str, message: str, code: str) -> InvalidInput:
    return InvalidInput(message, code=code, fields={path: [message]})


def validate_job_files(files: object, *, limits: Limits = DEFAULT_LIMITS) -> list[JobFile]:
    """The `files` of a job request: shapes, task types, every page image, the page total."""
    if not isinstance(files, list) or not files:
        raise InvalidInput("No files provided", code="no_files")
    if len(files) > limits.max_files:
        raise PayloadTooLarge("Too many files", code="too_many_files")
    # The page total first, before any image is decoded.
    counts = [
        len(e["processedImages"])
        for e in files
        if isinstance(e, dict) and isinstance(e.get("processedImages"), list)
    ]
    if sum(counts) > limits.max_pages_per_job:
        raise PayloadTooLarge("Too many pages", code="too_many_pages")
    out: list[JobFile] = []
    for index, entry in enumerate(files):
        path = f"files[{index}]"
        if not isinstance(entry, dict):
            raise _field_error(path, "Each file must be an object", "invalid_file")
        task_type = entry.get("taskType")
        if task_type not in TASK_TYPES:
            raise _field_error(f"{path}.taskType", "Unknown task type", "invalid_task_type")
        size = entry.get("size", 0)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise _field_error(f"{path}.size", "Size must be a whole number", "invalid_file")
        images = entry.get("processedImages")
        if not isinstance(images, list) or not images:
            raise _field_error(f"{path}.processedImages", "No page images", "empty_input")
        metadata = entry.get("dicomMetadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise _field_error(f"{path}.dicomMetadata", "Must be an object", "invalid_file")
        if metadata is not None and len(repr(metadata)) > MAX_DICOM_METADATA_CHARS:
            raise PayloadTooLarge("DICOM metadata is too large", code="metadata_too_large")
        thumbnail = entry.get("thumbnail")
        out.append(
            JobFile(
                name=safe_filename(
                    entry.get("name") if isinstance(entry.get("name"), str) else None
                ),
                type=str(entry.get("type") or "")[:100],
                size=size,
                task_type=task_type,
                pages=validate_pages(images, limits=limits),
                thumbnail=validate_data_url(thumbnail, limits=limits) if thumbnail else None,
                dicom_metadata=metadata,
            )
        )
    return out


def validate_images_or_text(
    *, images: object = None, text: object = None, limits: Limits = DEFAULT_LIMITS
) -> tuple[list[ImageInput], TextInput | None]:
    """`{images?, text?}` of /v1/import/extract and /report(/stream): at least one of them."""
    if images in (None, []) and text in (None, ""):
        raise InvalidInput("Provide page images or text", code="no_input")
    pages = validate_pages(images, limits=limits) if images not in (None, []) else []
    if text not in (None, "") and not isinstance(text, str):
        raise _field_error("text", "Text must be a string", "invalid")
    return pages, validate_text(text, limits=limits) if isinstance(text, str) and text else None
