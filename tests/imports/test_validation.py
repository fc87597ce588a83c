"""Malformed import inputs, each made here, each refused with its code and status, quickly and
without reading the whole thing into memory."""

from __future__ import annotations

import base64
import io
import struct
import time
import tracemalloc
import zlib
from collections.abc import Callable

import pytest
from PIL import Image
from pypdf import PdfWriter

from imports_app.validation import (
    ImageInput,
    JobFile,
    Limits,
    PdfInput,
    TextInput,
    safe_filename,
    validate_data_url,
    validate_document_data_url,
    validate_images_or_text,
    validate_job_files,
    validate_pages,
    validate_pdf,
    validate_text,
    validate_upload,
)
from mediqom.errors import ApiError


def raw_pdf(objects: list[bytes], *, root: int = 1) -> bytes:
    """A well-formed PDF from object bodies (object n is objects[n-1]) with a correct xref."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
        % (len(objects) + 1, root, xref)
    )
    return out.getvalue()


def pdf_with_pages(count: int) -> bytes:
    kids = b" ".join(b"%d 0 R" % (3 + i) for i in range(count))
    pages = [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>"] * count
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % count,
            *pages,
        ]
    )


def flate_bomb(decompressed_mb: int) -> bytes:
    squeezer = zlib.compressobj(9)
    zeros = b"\0" * (1 << 20)
    payload = b"".join(squeezer.compress(zeros) for _ in range(decompressed_mb)) + squeezer.flush()
    stream = (
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(payload) + payload + b"\nendstream"
    )
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
            stream,
        ]
    )


def encrypted_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.encrypt(user_password="secret", owner_password="owner")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def png(width: int = 40, height: int = 30) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (250, 250, 250)).save(out, "PNG")
    return out.getvalue()


def jpeg(width: int = 40, height: int = 30) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (250, 250, 250)).save(out, "JPEG")
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares a size; the IDAT holds almost nothing (a pixel-count bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + chunk(b"IEND", b"")
    )


def jpeg_claiming(width: int, height: int) -> bytes:
    data = bytearray(jpeg())
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def jpeg_with_pdf_comment() -> bytes:
    data = jpeg()
    comment = b"%PDF-1.4 1 0 obj << >> endobj"
    return data[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + data[2:]


def url(media_type: str, data: bytes) -> str:
    return f"data:{media_type};base64," + base64.b64encode(data).decode()


def webp_claiming(width: int, height: int) -> bytes:
    """A WebP (VP8X) whose canvas size is declared huge, with no image data behind it."""
    canvas = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + canvas
    return b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x


def job_file(**overrides: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "name": "scan.pdf",
        "type": "application/pdf",
        "size": 1234,
        "taskType": "application/pdf",
        "processedImages": [url("image/jpeg", jpeg())],
    }
    return {**entry, **overrides}


GOOD_PDF = pdf_with_pages(2)

# (id, the call that must fail, expected code, expected status)
CASES: list[tuple[str, Callable[[], object], str, int]] = [
    ("empty upload", lambda: validate_upload(b"", name="a.pdf"), "empty_input", 400),
    (
        "data url not a data url",
        lambda: validate_data_url("https://example.com/page.png"),
        "invalid_data_url",
        400,
    ),
    (
        "data url bad base64",
        lambda: validate_data_url("data:image/png;base64,***not-base64***"),
        "invalid_data_url",
        400,
    ),
    (
        "data url without base64",
        lambda: validate_data_url("data:image/png,rawbytes"),
        "invalid_data_url",
        400,
    ),
    (
        "data url empty payload",
        lambda: validate_data_url("data:image/png;base64,"),
        "empty_input",
        400,
    ),
    (
        "data url says png, is jpeg",
        lambda: validate_data_url(url("image/png", jpeg())),
        "media_type_mismatch",
        415,
    ),
    (
        "data url says text/html, is png",
        lambda: validate_data_url(url("text/html", png())),
        "media_type_mismatch",
        415,
    ),
    (
        "data url is a gif",
        lambda: validate_data_url(url("image/gif", b"GIF89a" + b"\0" * 40)),
        "unsupported_media_type",
        415,
    ),
    (
        "data url is svg",
        lambda: validate_data_url(url("image/svg+xml", b"<svg onload='x()'></svg>")),
        "unsupported_media_type",
        415,
    ),
    (
        "data url is a pdf",
        lambda: validate_data_url(url("image/png", GOOD_PDF)),
        "media_type_mismatch",
        415,
    ),
    (
        "data url too large",
        lambda: validate_data_url("data:image/png;base64," + "A" * (21 * 1024 * 1024)),
        "image_too_large",
        413,
    ),
    (
        "png declares 10^10 pixels",
        lambda: validate_data_url(url("image/png", png_claiming(100_000, 100_000))),
        "image_too_many_pixels",
        413,
    ),
    (
        "png 1 x 50M pixels",
        lambda: validate_upload(png_claiming(1, 50_000_000), name="x.png"),
        "image_too_many_pixels",
        413,
    ),
    (
        "jpeg declares 65000^2 pixels",
        lambda: validate_data_url(url("image/jpeg", jpeg_claiming(65000, 65000))),
        "image_too_many_pixels",
        413,
    ),
    (
        "png truncated",
        lambda: validate_data_url(url("image/png", png()[:40])),
        "image_corrupt",
        422,
    ),
    (
        "png header only",
        lambda: validate_data_url(url("image/png", b"\x89PNG\r\n\x1a\n")),
        "image_corrupt",
        422,
    ),
    (
        "jpeg truncated",
        lambda: validate_upload(jpeg(400, 300)[:200], name="p.jpg", declared_type="image/jpeg"),
        "image_corrupt",
        422,
    ),
    (
        "png with a pdf appended",
        lambda: validate_upload(png() + GOOD_PDF, name="p.png"),
        "polyglot_file",
        415,
    ),
    (
        "png with a zip appended",
        lambda: validate_upload(png() + b"PK\x03\x04" + b"\0" * 64, name="p.png"),
        "polyglot_file",
        415,
    ),
    (
        "jpeg with a pdf header inside",
        lambda: validate_upload(jpeg_with_pdf_comment(), name="p.jpg"),
        "polyglot_file",
        415,
    ),
    (
        "encrypted pdf",
        lambda: validate_upload(encrypted_pdf(), name="r.pdf", declared_type="application/pdf"),
        "pdf_encrypted",
        422,
    ),
    ("pdf truncated", lambda: validate_pdf(GOOD_PDF[: len(GOOD_PDF) // 2]), "pdf_corrupt", 422),
    (
        "pdf header then garbage",
        lambda: validate_pdf(b"%PDF-1.7\n" + b"\x13\x37garbage" * 100 + b"\n%%EOF\n"),
        "pdf_corrupt",
        422,
    ),
    (
        "pdf with 10,000 pages",
        lambda: validate_upload(pdf_with_pages(10_000), name="big.pdf"),
        "too_many_pages",
        413,
    ),
    (
        "pdf flate bomb (300 MB)",
        lambda: validate_pdf(flate_bomb(300)),
        "pdf_decompression_bomb",
        413,
    ),
    (
        "pdf over the size cap",
        lambda: validate_upload(b"%PDF-1.7\n" + b"0" * (26 * 1024 * 1024), name="x.pdf"),
        "file_too_large",
        413,
    ),
    (
        "pdf declared as png",
        lambda: validate_upload(GOOD_PDF, name="x.png", declared_type="image/png"),
        "media_type_mismatch",
        415,
    ),
    (
        "png declared as pdf",
        lambda: validate_upload(png(), name="x.pdf", declared_type="application/pdf"),
        "media_type_mismatch",
        415,
    ),
    (
        "elf binary",
        lambda: validate_upload(b"\x7fELF\x02\x01\x01" + b"\0" * 100, name="report.pdf"),
        "unsupported_media_type",
        415,
    ),
    (
        "zip (docx) declared pdf",
        lambda: validate_upload(
            b"PK\x03\x04" + b"\0" * 100, name="r.docx", declared_type="application/pdf"
        ),
        "unsupported_media_type",
        415,
    ),
    (
        "windows exe as text",
        lambda: validate_upload(
            b"MZ\x90\x00" + b"\0" * 100, name="r.txt", declared_type="text/plain"
        ),
        "unsupported_media_type",
        415,
    ),
    (
        "html declared text/plain",
        lambda: validate_upload(
            b"<!DOCTYPE html><script>x()</script>", name="r.txt", declared_type="text/plain"
        ),
        "media_type_mismatch",
        415,
    ),
    (
        "text/html upload",
        lambda: validate_upload(b"plain words", name="r.html", declared_type="text/html"),
        "unsupported_media_type",
        415,
    ),
    (
        "text not utf-8",
        lambda: validate_upload(
            "Glukóza 5,1".encode("cp1250"), name="r.txt", declared_type="text/plain"
        ),
        "text_not_utf8",
        400,
    ),
    ("text with NUL", lambda: validate_text("Glucose\x005.1"), "text_binary", 400),
    ("text too long", lambda: validate_text("a" * 1_000_001), "text_too_long", 413),
    ("text blank", lambda: validate_text(" \n\t "), "empty_input", 400),
    (
        "too many page images",
        lambda: validate_pages([url("image/png", png())] * 501),
        "too_many_pages",
        413,
    ),
    ("no page images", lambda: validate_pages([]), "empty_input", 400),
    (
        "page images not a list",
        lambda: validate_pages("data:image/png;base64,AAAA"),
        "empty_input",
        400,
    ),
    ("page image not a string", lambda: validate_pages([{"src": "x"}]), "invalid_data_url", 400),
    (
        "webp declares 16384^2 pixels",
        lambda: validate_data_url(url("image/webp", webp_claiming(16384, 16384))),
        "image_too_many_pixels",
        413,
    ),
    (
        "tiff",
        lambda: validate_upload(
            b"II*\x00" + b"\0" * 64, name="scan.tiff", declared_type="image/tiff"
        ),
        "unsupported_media_type",
        415,
    ),
    (
        "bmp",
        lambda: validate_upload(b"BM" + b"\0" * 64, name="scan.bmp"),
        "unsupported_media_type",
        415,
    ),
    (
        "gzip",
        lambda: validate_upload(
            b"\x1f\x8b\x08" + b"\0" * 64, name="r.txt", declared_type="text/plain"
        ),
        "unsupported_media_type",
        415,
    ),
    (
        "pdf data url, encrypted",
        lambda: validate_document_data_url(url("application/pdf", encrypted_pdf())),
        "pdf_encrypted",
        422,
    ),
    (
        "pdf data url, png inside",
        lambda: validate_document_data_url(url("application/pdf", png())),
        "unsupported_media_type",
        415,
    ),
    ("job: no files", lambda: validate_job_files([]), "no_files", 400),
    ("job: files not a list", lambda: validate_job_files({"name": "x"}), "no_files", 400),
    ("job: file not an object", lambda: validate_job_files(["scan.pdf"]), "invalid_file", 400),
    (
        "job: unknown task type",
        lambda: validate_job_files([job_file(taskType="application/zip")]),
        "invalid_task_type",
        400,
    ),
    ("job: negative size", lambda: validate_job_files([job_file(size=-1)]), "invalid_file", 400),
    (
        "job: no page images",
        lambda: validate_job_files([job_file(processedImages=[])]),
        "empty_input",
        400,
    ),
    ("job: 51 files", lambda: validate_job_files([job_file()] * 51), "too_many_files", 413),
    (
        "job: 501 pages over files",
        lambda: validate_job_files([job_file(processedImages=["x"] * 100)] * 6),
        "too_many_pages",
        413,
    ),
    (
        "job: bomb page",
        lambda: validate_job_files(
            [job_file(processedImages=[url("image/png", png_claiming(90_000, 90_000))])]
        ),
        "image_too_many_pixels",
        413,
    ),
    (
        "job: dicom metadata not an object",
        lambda: validate_job_files([job_file(taskType="application/dicom", dicomMetadata="CT")]),
        "invalid_file",
        400,
    ),
    (
        "job: huge dicom metadata",
        lambda: validate_job_files([job_file(dicomMetadata={"x": "a" * 70_000})]),
        "metadata_too_large",
        413,
    ),
    (
        "job: thumbnail is a pdf",
        lambda: validate_job_files([job_file(thumbnail=url("image/png", GOOD_PDF))]),
        "media_type_mismatch",
        415,
    ),
    (
        "extract: neither images nor text",
        lambda: validate_images_or_text(images=None, text=None),
        "no_input",
        400,
    ),
    (
        "extract: text not a string",
        lambda: validate_images_or_text(text=["Glucose 5"]),
        "invalid",
        400,
    ),
]


def test_there_are_at_least_25_malformed_inputs() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize(
    ("call", "code", "status"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_malformed_input_is_refused_quickly_in_bounded_memory(
    call: Callable[[], object], code: str, status: int
) -> None:
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(ApiError) as caught:
            call()
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (caught.value.code, caught.value.status) == (code, status)
    assert 400 <= caught.value.status < 500
    assert elapsed < 5.0
    # Peak above what the test itself built: large inputs are a few tens of MB; bombs expand to GB.
    assert peak < 160 * 1024 * 1024


def test_the_10000_page_pdf_is_refused_without_walking_its_pages() -> None:
    data = pdf_with_pages(10_000)
    started = time.monotonic()
    with pytest.raises(ApiError) as caught:
        validate_pdf(data)
    assert caught.value.code == "too_many_pages"
    assert time.monotonic() - started < 0.5


def test_a_page_tree_that_lies_about_its_count_is_still_capped() -> None:
    data = pdf_with_pages(300).replace(b"/Count 300", b"/Count 3  ")
    with pytest.raises(ApiError) as caught:
        validate_pdf(data)
    assert caught.value.code == "too_many_pages"


def test_page_objects_hidden_from_a_byte_scan_are_still_counted() -> None:
    # "/Type%comment\n/Page" is a valid PDF spelling of "/Type /Page" that no regex expects.
    kids = b" ".join(b"%d 0 R" % (3 + i) for i in range(300))
    page = b"<< /Type%x\n/Page /Parent 2 0 R /MediaBox [0 0 200 200] >>"
    data = raw_pdf(
        [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [" + kids + b"] /Count 3 >>"]
        + [page] * 300
    )
    with pytest.raises(ApiError) as caught:
        validate_pdf(data)
    assert caught.value.code == "too_many_pages"


def test_messages_never_echo_the_input() -> None:
    secret = "Jana Nováková 12.02.2025"
    for call in (
        lambda: validate_text(secret + "\x00"),
        lambda: validate_data_url("data:image/png;base64," + secret),
        lambda: validate_upload(
            secret.encode("cp1250"), name=secret + ".txt", declared_type="text/plain"
        ),
    ):
        with pytest.raises(ApiError) as caught:
            call()
        assert "Nov" not in caught.value.message
        assert "2025" not in caught.value.message


def test_good_inputs_pass() -> None:
    image = validate_data_url(url("image/jpeg", jpeg(64, 48)))
    assert isinstance(image, ImageInput)
    assert (image.media_type, image.width, image.height) == (
        "image/jpeg",
        64,
        48,
    )
    assert isinstance(validate_data_url(url("image/png", png())), ImageInput)
    name, pdf = validate_upload(
        GOOD_PDF, name="../../lab report.pdf", declared_type="application/pdf"
    )
    assert isinstance(pdf, PdfInput)
    assert pdf.pages == 2
    assert name == "lab report.pdf"
    name, text = validate_upload(
        "Glukóza 5,1 mmol/l".encode(), name="a.txt", declared_type="text/plain"
    )
    assert isinstance(text, TextInput)
    assert text.text == "Glukóza 5,1 mmol/l"
    assert len(validate_pages([url("image/png", png())] * 3)) == 3


def test_a_job_request_in_the_clients_shape_passes() -> None:
    files = validate_job_files(
        [
            job_file(name="../Výsledky.pdf", processedImages=[url("image/jpeg", jpeg())] * 3),
            job_file(
                name="ct.dcm",
                taskType="application/dicom",
                dicomMetadata={"modality": "CT"},
                thumbnail=url("image/png", png()),
            ),
        ]
    )
    assert [type(f) for f in files] == [JobFile, JobFile]
    assert files[0].name == "Výsledky.pdf"
    assert len(files[0].pages) == 3
    assert files[1].dicom_metadata == {"modality": "CT"}
    assert files[1].thumbnail is not None


def test_images_or_text_and_pdf_data_urls_pass() -> None:
    pages, text = validate_images_or_text(images=[url("image/png", png())], text="Glucose 5.1")
    assert len(pages) == 1
    assert text is not None
    assert text.text == "Glucose 5.1"
    pdf = validate_document_data_url(url("application/pdf", GOOD_PDF))
    assert isinstance(pdf, PdfInput)
    assert pdf.pages == 2


def test_limits_can_be_tightened() -> None:
    with pytest.raises(ApiError) as caught:
        validate_pdf(GOOD_PDF, limits=Limits(max_pdf_pages=1))
    assert caught.value.code == "too_many_pages"


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\cmd.exe", "cmd.exe"),
        ("/absolute/path/report.pdf", "report.pdf"),
        ("\uff0e\uff0e\uff0fetc\uff0fshadow", "shadow"),  # full-width dots and slashes
        ("evil\x00.pdf", "evil.pdf"),
        ("line\nbreak\r.png", "linebreak.png"),
        (".htaccess", "htaccess"),
        ("...", "document"),
        ("", "document"),
        (None, "document"),
        ("CON.pdf", "_CON.pdf"),
        ("a" * 300 + ".pdf", "a" * 116 + ".pdf"),
        ("Výsledky krve.pdf", "Výsledky krve.pdf"),
    ],
)
def test_file_names_are_made_inert(name: str | None, safe: str) -> None:
    assert safe_filename(name) == safe
