"""admin of imports_app (filled in by its feature issue)."""

from __future__ import annotations
