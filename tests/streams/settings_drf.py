"""Server settings for test_sse_drf.py: the project's, with a test urlconf."""

from __future__ import annotations

from config.settings import *  # noqa: F403

ROOT_URLCONF = "tests.streams.drf_views"
