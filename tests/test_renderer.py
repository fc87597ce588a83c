"""mediqom.api.renderers.OrjsonRenderer writes what DRF's JSONRenderer writes."""

from __future__ import annotations

import datetime
import decimal
import uuid

from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer

from mediqom.api.renderers import OrjsonRenderer

SAMPLES = [
    [{"id": uuid.UUID(int=7), "metadata": "QUJD" * 100 + "+/==", "keys": [{"key": "a"}]}],
    {"when": datetime.datetime(2026, 12, 2, 13, 5, 7, 123456, tzinfo=datetime.UTC)},
    {"date": datetime.date(2026, 1, 2), "price": decimal.Decimal("9.90"), "n": None},
    {"message": gettext_lazy("Not found"), "fields": {}, "ok": True, "ratio": 0.25},
    {"text": "Příliš žluťoučký kůň \u2603", "nested": [[1, 2], (3, 4)], 1: "int key"},
    {"big": 2**70},
    [],
]


def test_it_renders_the_same_bytes_as_drf():
    ours, drf = OrjsonRenderer(), JSONRenderer()
    for sample in SAMPLES:
        assert ours.render(sample) == drf.render(sample), sample


def test_it_renders_nothing_for_no_data_and_honours_indent():
    assert OrjsonRenderer().render(None) == b""
    media = "application/json; indent=2"
    assert OrjsonRenderer().render({"a": 1}, media) == JSONRenderer().render({"a": 1}, media)
