"""The one-shot import routes (`/v1/import/extract`, `/report`, `/medical-imaging` and their
`/stream` variants) over the API on real PostgreSQL (RLS on), with the offline `local`
provider (no AI key configured): shapes, auth, scan metering, validation before any charge."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest
from PIL import Image

from imports_app.models import ImportJob
from imports_app.pipeline.pages import fingerprint
from imports_app.selectors import FINGERPRINTS
from mediqom.records.models import Subscription
from mediqom.records.quotas import check_scans_available
from tests.conftest import ok
from tests.imports.conftest import (
    no_tesseract,  # noqa: F401 - a fixture used below
    report_pdf,
)
from tests.imports.lab_reports import CZECH, ENGLISH
from tests.imports_app.conftest import page_image

ROUTES = [
    "/v1/import/extract",
    "/v1/import/extract/stream",
    "/v1/import/report",
    "/v1/import/report/stream",
    "/v1/import/medical-imaging",
    "/v1/import/medical-imaging/stream",
]
ASSESSMENT_KEYS = {"pages", "documents", "tokenUsage", "provider", "note"}
PAGE_KEYS = {"page", "text", "language", "images", "method", "thumbnail"}
DOCUMENT_KEYS = {"title", "date", "language", "isMedical", "isMedicalImaging", "pages"}


def pdf_url(pdf: bytes) -> str:
    return "data:application/pdf;base64," + base64.b64encode(pdf).decode()


def available(user: Any) -> int:
    return int(check_scans_available(user=user)["available"])


def no_scans_left(user: Any) -> None:
    check_scans_available(user=user)
    Subscription.objects.filter(pk=user.id).update(scans_used=5, scans_base=5, scans_credits=0)


def body_for(route: str) -> dict[str, Any]:
    if "medical-imaging" in route:
        return {"images": [page_image()], "language": "English"}
    if "report" in route:
        return {"text": ENGLISH.text(), "language": "English"}
    return {"images": [page_image()], "language": "English"}


def assert_thumbnail(url: str) -> None:
    assert url.startswith("data:image/jpeg;base64,")
    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as image:
        assert max(image.size) <= 512


def test_extract_of_a_pdf_returns_every_page_with_its_thumbnail_and_charges_one_scan(
    alice, client_for
):
    before = available(alice)
    response = ok(
        client_for(alice).post(
            "/v1/import/extract",
            {"images": [pdf_url(report_pdf(CZECH))], "language": "Czech"},
            format="json",
        )
    )
    body = response.json()
    assert set(body) == ASSESSMENT_KEYS
    assert body["provider"] == "local"
    assert len(body["pages"]) >= 1
    for number, page in enumerate(body["pages"], start=1):
        assert set(page) == PAGE_KEYS
        assert page["page"] == number
        assert_thumbnail(page["thumbnail"])
    assert "Hemoglobin" in body["pages"][0]["text"] or "hemoglobin" in body["pages"][0]["text"]
    assert body["pages"][0]["method"] == "pdf-text-layer"  # the offline path read the PDF itself
    assert [set(d) for d in body["documents"]] == [DOCUMENT_KEYS]
    assert body["documents"][0]["pages"] == [p["page"] for p in body["pages"]]
    assert body["tokenUsage"] == {"total": 0}
    assert available(alice) == before - 1


def test_extract_of_text_has_pages_without_thumbnails(alice, client_for):
    response = ok(
        client_for(alice).post(
            "/v1/import/extract", {"text": ENGLISH.text(), "language": "english"}, format="json"
        )
    )
    body = response.json()
    assert set(body) == ASSESSMENT_KEYS
    assert body["pages"]
    assert all("thumbnail" not in page for page in body["pages"])
    assert body["pages"][0]["method"] == "text"


def test_report_returns_a_report_analysis_of_the_text(alice, client_for):
    before = available(alice)
    response = ok(
        client_for(alice).post(
            "/v1/import/report", {"text": ENGLISH.text(), "language": "English"}, format="json"
        )
    )
    body = response.json()
    assert {"type", "fhirType", "fhir", "category", "isMedical", "tags", "hasPrescription",
            "hasImmunization", "hasLabOrVitals", "content", "report", "text", "tokenUsage",
            "results", "recommendations", "title", "summary", "signals", "documentType",
            "schemaUsed", "confidence", "processingComplexity", "enhancedFields",
            "processing"} <= set(body)  # fmt: skip
    assert body["processing"]["local"] is True
    assert body["isMedical"] is True
    assert body["signals"], "the lab values of the report"
    assert body["fhir"]["resourceType"] == "Bundle"
    assert available(alice) == before - 1


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_needs_a_token(db, client_for, route):
    response = client_for(None).post(route, body_for(route), format="json")
    ok(response, 401)
    assert response.json()["message"] == "Unauthorized"
    assert ("pages" in response.json()) is (route == "/v1/import/extract")


@pytest.mark.parametrize("route", ROUTES)
def test_without_scans_every_route_is_403_and_charges_nothing(alice, client_for, route, settings):
    settings.OPENAI_API_KEY = "sk-not-used"  # medical imaging needs a provider to get that far
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    no_scans_left(alice)
    response = client_for(alice).post(route, body_for(route), format="json")
    ok(response, 403)
    assert response.json()["message"] == "Subscription limit reached"
    if route == "/v1/import/extract":  # the client maps `pages` of any answer it gets
        assert (response.json()["pages"], response.json()["documents"]) == ([], [])
    assert Subscription.objects.get(pk=alice.id).scans_used == 5


ENCRYPTED_PDF_TAIL = b"trailer\n<< /Root 1 0 R /Encrypt 5 0 R >>\n%%EOF\n"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "no_input"),
        ({"images": [], "text": ""}, 400, "no_input"),
        ({"images": "data:image/png;base64,AAAA"}, 400, "invalid"),
        ({"images": ["data:image/png;base64,not base64!"]}, 400, "invalid_data_url"),
        ({"images": ["data:image/gif;base64," + base64.b64encode(b"GIF89a" + b"0" * 64).decode()]},
         415, "unsupported_media_type"),
        ({"images": ["data:application/pdf;base64," + base64.b64encode(b"%PDF-1.4\n1 0 obj\n")
                     .decode()]}, 422, "pdf_corrupt"),
        ({"images": [pdf_url(b"%PDF-1.4\n" + ENCRYPTED_PDF_TAIL)]}, 422, "pdf_encrypted"),
        ({"text": 12}, 400, "invalid"),
        ({"text": "x\x00y"}, 400, "text_binary"),
        ({"text": "hello", "language": "Klingon"}, 400, "invalid"),
        (["not", "an", "object"], 400, "invalid_body"),
    ],
)  # fmt: skip
def test_extract_refuses_bad_input_before_any_charge(alice, client_for, body, status, code):
    before = available(alice)
    response = client_for(alice).post("/v1/import/extract", body, format="json")
    ok(response, status)
    assert response.json()["code"] == code
    assert available(alice) == before


def test_too_many_pages_are_refused_before_any_charge(alice, client_for, settings):
    settings.MEDIQOM_IMPORT_MAX_PAGES = 2
    before = available(alice)
    for route in ("/v1/import/extract", "/v1/import/report/stream"):
        response = client_for(alice).post(
            route, {"images": [page_image() for _ in range(3)]}, format="json"
        )
        ok(response, 413)
        assert response.json()["code"] == "import_too_many_pages"
    assert available(alice) == before


def test_imaging_needs_images_and_refuses_bad_metadata(alice, client_for, settings):
    settings.OPENAI_API_KEY = "sk-not-used"
    before = available(alice)
    client = client_for(alice)
    response = client.post("/v1/import/medical-imaging", {"images": []}, format="json")
    ok(response, 400)
    assert response.json()["message"] == "No medical images provided"
    response = client.post(
        "/v1/import/medical-imaging/stream",
        {"images": [page_image()], "metadata": {"dicomMetadata": "CT"}},
        format="json",
    )
    ok(response, 400)
    pdf = pdf_url(report_pdf(ENGLISH))
    response = client.post("/v1/import/medical-imaging", {"images": [pdf]}, format="json")
    ok(response, 415)  # a PDF is not a medical image
    assert available(alice) == before


def test_imaging_without_a_provider_is_503_and_charges_nothing(alice, client_for):
    before = available(alice)
    response = client_for(alice).post(
        "/v1/import/medical-imaging", {"images": [page_image()]}, format="json"
    )
    ok(response, 503)
    assert response.json()["code"] == "ai_unavailable"
    assert available(alice) == before


@pytest.mark.usefixtures("no_tesseract")
def test_a_failure_before_any_ai_call_gives_the_scan_back(alice, client_for):
    before = available(alice)
    response = client_for(alice).post(
        "/v1/import/extract", {"images": [page_image()]}, format="json"
    )
    ok(response, 503)
    assert response.json()["code"] == "ocr_unavailable"
    assert available(alice) == before


def test_pages_a_charged_job_already_imported_cost_no_second_scan(alice, client_for):
    """The client's finaliser asks `/v1/import/extract` for thumbnails of a job's PDF: the
    same pages (re-encoded, resized) are recognised and not charged again."""
    image = Image.new("RGB", (600, 800), "white")
    for y in range(100, 700, 40):
        image.paste((20, 20, 20), (60, y, 60 + (y * 7) % 400 + 80, y + 12))
    png = io.BytesIO()
    image.save(png, format="PNG")
    job = ImportJob.objects.create(
        user_id=alice.id,
        status="completed",
        scan_deducted=True,
        manifest=json.dumps([{"taskType": "application/pdf", "processedImages": [],
                              FINGERPRINTS: [fingerprint(png.getvalue())]}]),
    )  # fmt: skip
    jpeg = io.BytesIO()
    image.resize((450, 600)).save(jpeg, format="JPEG", quality=70)  # the client re-rendered it
    url = "data:image/jpeg;base64," + base64.b64encode(jpeg.getvalue()).decode()
    before = available(alice)
    response = ok(client_for(alice).post("/v1/import/extract", {"images": [url]}, format="json"))
    assert [set(p) >= {"page", "thumbnail"} for p in response.json()["pages"]] == [True]
    assert available(alice) == before  # not charged a second time

    # Another page, or the same page once the job is refunded/failed, is charged.
    ImportJob.objects.filter(pk=job.pk).update(scan_deducted=False)
    ok(client_for(alice).post("/v1/import/extract", {"images": [url]}, format="json"))
    assert available(alice) == before - 1


def test_another_users_job_does_not_make_pages_free(alice, bob, client_for):
    data = base64.b64decode(page_image().split(",", 1)[1])
    ImportJob.objects.create(
        user_id=bob.id,
        status="completed",
        scan_deducted=True,
        manifest=json.dumps([{FINGERPRINTS: [fingerprint(data)]}]),
    )
    before = available(alice)
    ok(client_for(alice).post("/v1/import/extract", {"images": [page_image()]}, format="json"))
    assert available(alice) == before - 1


def test_with_a_provider_a_pdf_is_rendered_page_by_page_for_the_model(
    alice, client_for, ai_providers
):
    """The AI path: each PDF page goes to the OCR pass as its own rendered image, and each
    comes back with its thumbnail."""
    ai_providers.reply(
        tool="ocr_extractor",
        args=lambda request: {
            "pages": [
                {"page": n, "text": f"page {n}"}
                for n in range(1, request.text.count("data:image/png;base64,") + 1)
            ]
        },
    )
    ai_providers.reply(
        tool="document_assessor",
        args={"documents": [{"title": "Lab", "date": "2026-11-20", "language": "en",
                             "isMedical": True, "isMedicalImaging": False, "hasImages": False,
                             "pages": [1]}]},
    )  # fmt: skip
    response = ok(
        client_for(alice).post(
            "/v1/import/extract", {"images": [pdf_url(_two_page_pdf())]}, format="json"
        )
    )
    body = response.json()
    assert set(body) == {"pages", "documents", "tokenUsage"}
    assert [(p["page"], p["text"]) for p in body["pages"]] == [(1, "page 1"), (2, "page 2")]
    for page in body["pages"]:
        assert_thumbnail(page["thumbnail"])
    assert body["documents"][0]["pages"] == [1, 2]  # the uncovered page joins the document
    [ocr] = ai_providers.calls(tool="ocr_extractor")
    assert ocr.text.count("data:image/png;base64,") == 2


def _two_page_pdf() -> bytes:
    import weasyprint

    html = "<p>Hemoglobin 135 g/L</p><p style='page-break-before: always'>CRP 12 mg/L</p>"
    return bytes(weasyprint.HTML(string=html).write_pdf())
