"""Local-provider test inputs: lab reports as text, text-layer PDFs and photographed pages."""

from __future__ import annotations

import base64
import io
import random
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import weasyprint
from PIL import Image, ImageFilter

from tests.imports.lab_reports import REPORTS, Report

# Precision/recall per (language, input kind), printed at the end of the run.
METRICS: dict[tuple[str, str], tuple[float, float, int]] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not METRICS:
        return
    terminalreporter.section("local provider: lab values, precision / recall")
    for (language, kind), (precision, recall, total) in sorted(METRICS.items()):
        terminalreporter.write_line(
            f"{language} {kind:<17} precision {precision:.3f} recall {recall:.3f} ({total} values)"
        )


def report_pdf(report: Report) -> bytes:
    return weasyprint.HTML(string=report.html()).write_pdf()


def photograph(pdf: bytes, *, seed: int) -> bytes:
    """The PDF's page as a phone photo would reach us: ~2048 px, tilted, noisy, soft, JPEG."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "page.pdf"
        path.write_bytes(pdf)
        subprocess.run(
            ["pdftoppm", "-r", "175", "-png", "-singlefile", str(path), str(Path(tmp) / "page")],
            check=True,
            timeout=60,
        )
        image = Image.open(Path(tmp) / "page.png").convert("RGB")
    rnd = random.Random(seed)
    image = image.rotate(
        rnd.uniform(0.8, 1.5), Image.Resampling.BICUBIC, expand=True, fillcolor=(232, 230, 225)
    )
    pixels = image.load()
    width, height = image.size
    for _ in range(width * height // 40):
        shade = rnd.randrange(110, 256)
        pixels[rnd.randrange(width), rnd.randrange(height)] = (shade, shade, shade)
    image = image.filter(ImageFilter.GaussianBlur(0.8))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def data_url(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()


@pytest.fixture(scope="session")
def report_pdfs() -> dict[str, bytes]:
    return {language: report_pdf(report) for language, report in REPORTS.items()}


@pytest.fixture(scope="session")
def report_photos(report_pdfs: dict[str, bytes]) -> dict[str, bytes]:
    return {
        language: photograph(pdf, seed=index)
        for index, (language, pdf) in enumerate(report_pdfs.items())
    }


@pytest.fixture
def no_tesseract() -> Iterator[None]:
    """Point pytesseract at a binary that does not exist (as on a server without Tesseract)."""
    import pytesseract

    before = pytesseract.pytesseract.tesseract_cmd
    pytesseract.pytesseract.tesseract_cmd = "/nonexistent/tesseract"
    try:
        yield
    finally:
        pytesseract.pytesseract.tesseract_cmd = before
