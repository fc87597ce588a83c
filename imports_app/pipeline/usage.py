"""Token accounting and provider labels gathered over one pipeline run (thread-safe)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from mediqom.ai import StructuredResult

LOCAL_LABEL = "Offline extraction by the local provider (no AI model was used)"


@dataclass
class Usage:
    tokens: dict[str, int] = field(default_factory=lambda: {"total": 0})
    providers: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    local: bool = False
    ai_calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, result: StructuredResult) -> None:
        with self.lock:
            self.ai_calls += 1
            self.tokens["total"] = self.tokens.get("total", 0) + result.token_usage
            self.tokens[name] = self.tokens.get(name, 0) + result.token_usage
            if result.provider not in self.providers:
                self.providers.append(result.provider)
            if result.model not in self.models:
                self.models.append(result.model)
            self.local = self.local or result.labelled_local

    def label(self) -> dict[str, Any]:
        """What produced the output, for the output itself (local is always labelled)."""
        out: dict[str, Any] = {
            "providers": list(self.providers),
            "models": list(self.models),
            "local": self.local,
        }
        if self.local:
            out["label"] = LOCAL_LABEL
        return out
