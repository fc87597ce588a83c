"""The offline `local` import provider: deterministic extraction, no AI model, no network.

Entry points (register them with the AI provider layer, e.g. `register_local("extraction", ...)`):
`assess_local` (the contract's Assessment, §7.2) and `analyze_local` (a ReportAnalysis, §7.5).
"""

from imports_app.local.labs import LabValue, extract_lab_values
from imports_app.local.provider import PROVIDER, PROVIDER_NOTE, analyze_local, assess_local
from imports_app.local.text import OcrFailed, OcrUnavailable, UnreadableInput

__all__ = [
    "PROVIDER",
    "PROVIDER_NOTE",
    "LabValue",
    "OcrFailed",
    "OcrUnavailable",
    "UnreadableInput",
    "analyze_local",
    "assess_local",
    "extract_lab_values",
]
