"""tasks of sessions_app (filled in by its feature issue)."""

from __future__ import annotations
