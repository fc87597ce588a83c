"""The AI configuration: `config/ai-models.yaml` (providers, flows) + settings (keys, URLs).

The YAML is parsed once per file version (path + mtime) and checked strictly: an unknown
provider, model or key stops with ImproperlyConfigured instead of failing at the first call.
Secrets are never in the YAML; each provider names the Django settings that hold them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

KINDS = ("openai", "openai_compatible", "gemini", "local")


@dataclass(frozen=True)
class ModelSpec:
    key: str
    model_id: str
    model_id_setting: str | None = None
    max_tokens: int | None = None
    temperature: float = 0.0
    supports_vision: bool = True
    cost_per_1k_tokens: float | None = None


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    kind: str
    api_key_setting: str | None = None
    api_key_required: bool = True
    base_url_setting: str | None = None
    models: dict[str, ModelSpec] = field(default_factory=dict)


@dataclass(frozen=True)
class FlowSpec:
    name: str
    provider: str
    model: str | None
    fallback_models: tuple[str, ...] = ()
    fallback_providers: tuple[tuple[str, str | None], ...] = ()
    local: bool = True
    timeout_ms: int | None = None
    max_retries: int | None = None


@dataclass(frozen=True)
class AIConfig:
    providers: dict[str, ProviderSpec]
    flows: dict[str, FlowSpec]
    max_retries: int
    timeout_ms: int
    retry_backoff_ms: int
    cost_enabled: bool
    simple_task_model: str | None
    complex_task_model: str | None
    simple_tasks: frozenset[str]
    complex_tasks: frozenset[str]


@dataclass(frozen=True)
class Candidate:
    """One provider/model to try for a call, with everything the client needs."""

    provider: str
    kind: str
    model_key: str
    model_id: str
    api_key: str | None
    base_url: str | None
    max_tokens: int | None
    temperature: float
    timeout_s: float
    max_retries: int
    retry_backoff_s: float


_lock = threading.Lock()
_cache: dict[tuple[str, float], AIConfig] = {}


def _fail(path: Path, message: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"{path.name}: {message}")


def _mapping(value: Any, path: Path, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(path, f"{where} must be a mapping")
    return value


def _check_keys(data: dict[str, Any], allowed: set[str], path: Path, where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise _fail(path, f"unknown key(s) {', '.join(unknown)} in {where}")


def _parse_model(key: str, raw: Any, path: Path, where: str) -> ModelSpec:
    data = _mapping(raw, path, where)
    _check_keys(
        data,
        {
            "model_id",
            "model_id_setting",
            "max_tokens",
            "temperature",
            "supports_vision",
            "cost_per_1k_tokens",
            "description",
        },
        path,
        where,
    )
    model_id = data.get("model_id")
    if not isinstance(model_id, str) or not model_id:
        raise _fail(path, f"{where}.model_id is required")
    return ModelSpec(
        key=key,
        model_id=model_id,
        model_id_setting=data.get("model_id_setting"),
        max_tokens=data.get("max_tokens"),
        temperature=float(data.get("temperature", 0)),
        supports_vision=bool(data.get("supports_vision", True)),
        cost_per_1k_tokens=data.get("cost_per_1k_tokens"),
    )


def _parse(path: Path) -> AIConfig:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise _fail(path, f"cannot be read ({type(exc).__name__})") from exc
    root = _mapping(raw, path, "the file")
    _check_keys(
        root,
        {"providers", "flows", "performance", "cost_optimization", "default_providers"},
        path,
        "the file",
    )
    providers: dict[str, ProviderSpec] = {}
    for name, praw in _mapping(root.get("providers"), path, "providers").items():
        where = f"providers.{name}"
        pdata = _mapping(praw, path, where)
        _check_keys(
            pdata,
            {"kind", "api_key_setting", "api_key_required", "base_url_setting", "models", "name"},
            path,
            where,
        )
        kind = pdata.get("kind")
        if kind not in KINDS:
            raise _fail(path, f"{where}.kind must be one of {', '.join(KINDS)}")
        models = {
            key: _parse_model(key, mraw, path, f"{where}.models.{key}")
            for key, mraw in _mapping(pdata.get("models"), path, f"{where}.models").items()
        }
        providers[name] = ProviderSpec(
            name=name,
            kind=kind,
            api_key_setting=pdata.get("api_key_setting"),
            api_key_required=bool(pdata.get("api_key_required", kind in ("openai", "gemini"))),
            base_url_setting=pdata.get("base_url_setting"),
            models=models,
        )
    providers.setdefault("local", ProviderSpec(name="local", kind="local"))

    def model_of(provider: str, model: Any, where: str) -> str | None:
        if provider not in providers:
            raise _fail(path, f"{where}: unknown provider {provider!r}")
        spec = providers[provider]
        if spec.kind == "local":
            return None
        if not isinstance(model, str) or model not in spec.models:
            raise _fail(path, f"{where}: provider {provider!r} has no model {model!r}")
        return model

    flows: dict[str, FlowSpec] = {}
    for name, fraw in _mapping(root.get("flows"), path, "flows").items():
        where = f"flows.{name}"
        fdata = _mapping(fraw, path, where)
        _check_keys(
            fdata,
            {
                "provider",
                "model",
                "fallback_models",
                "fallback_providers",
                "local",
                "timeout_ms",
                "max_retries",
                "description",
            },
            path,
            where,
        )
        provider = fdata.get("provider")
        if not isinstance(provider, str):
            raise _fail(path, f"{where}.provider is required")
        model = model_of(provider, fdata.get("model"), where)
        fallback_models = tuple(
            str(model_of(provider, m, f"{where}.fallback_models"))
            for m in fdata.get("fallback_models") or []
        )
        fallback_providers: list[tuple[str, str | None]] = []
        for item in fdata.get("fallback_providers") or []:
            idata = _mapping(item, path, f"{where}.fallback_providers")
            pname = idata.get("provider")
            if not isinstance(pname, str):
                raise _fail(path, f"{where}.fallback_providers: provider is required")
            fallback_providers.append(
                (pname, model_of(pname, idata.get("model"), f"{where}.fallback_providers"))
            )
        flows[name] = FlowSpec(
            name=name,
            provider=provider,
            model=model,
            fallback_models=fallback_models,
            fallback_providers=tuple(fallback_providers),
            local=bool(fdata.get("local", True)),
            timeout_ms=fdata.get("timeout_ms"),
            max_retries=fdata.get("max_retries"),
        )

    perf = _mapping(root.get("performance"), path, "performance")
    _check_keys(
        perf,
        {
            "max_retries",
            "timeout_ms",
            "retry_backoff_ms",
            "concurrent_requests",
            "rate_limit_per_minute",
        },
        path,
        "performance",
    )
    cost = _mapping(root.get("cost_optimization"), path, "cost_optimization")
    _check_keys(
        cost,
        {
            "enable_cost_optimization",
            "simple_task_model",
            "complex_task_model",
            "simple_tasks",
            "complex_tasks",
        },
        path,
        "cost_optimization",
    )
    return AIConfig(
        providers=providers,
        flows=flows,
        max_retries=int(perf.get("max_retries", 2)),
        timeout_ms=int(perf.get("timeout_ms", 180_000)),
        retry_backoff_ms=int(perf.get("retry_backoff_ms", 500)),
        cost_enabled=bool(cost.get("enable_cost_optimization", False)),
        simple_task_model=cost.get("simple_task_model"),
        complex_task_model=cost.get("complex_task_model"),
        simple_tasks=frozenset(cost.get("simple_tasks") or []),
        complex_tasks=frozenset(cost.get("complex_tasks") or []),
    )


def ai_config() -> AIConfig:
    """The parsed configuration of settings.MEDIQOM_AI_MODELS_FILE (re-read when it changes)."""
    path = Path(settings.MEDIQOM_AI_MODELS_FILE)
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise ImproperlyConfigured(f"MEDIQOM_AI_MODELS_FILE {path} does not exist") from exc
    key = (str(path), mtime)
    with _lock:
        config = _cache.get(key)
        if config is None:
            config = _parse(path)
            _cache.clear()
            _cache[key] = config
    return config


def _setting(name: str | None) -> str | None:
    if not name:
        return None
    value = getattr(settings, name, None)
    return str(value) if value else None


def provider_configured(spec: ProviderSpec) -> bool:
    """A provider is usable when its required key (and, if compatible, its base URL) is set."""
    if spec.kind == "local":
        return True
    if spec.api_key_required and not _setting(spec.api_key_setting):
        return False
    return not (spec.kind == "openai_compatible" and not _setting(spec.base_url_setting))


def flow_model_key(config: AIConfig, flow: FlowSpec) -> str | None:
    """The primary model after the cost rule (contract 7.7): it overrides the flow's model."""
    model = flow.model
    if config.cost_enabled and model is not None:
        provider = config.providers[flow.provider]
        override = None
        if flow.name in config.simple_tasks:
            override = config.simple_task_model
        elif flow.name in config.complex_tasks:
            override = config.complex_task_model
        if override and override in provider.models:
            model = override
    return model


def candidates(flow_name: str, *, include_local: bool = False) -> tuple[FlowSpec, list[Candidate]]:
    """The flow and its configured remote candidates in order (unconfigured ones dropped).
    With `include_local`, a `local` provider named in the flow (as its provider or in
    `fallback_providers`) is a candidate at that place (kind "local", model "local") when the
    flow allows the offline provider."""
    config = ai_config()
    flow = config.flows.get(flow_name)
    if flow is None:
        raise ImproperlyConfigured(f"AI flow {flow_name!r} is not in MEDIQOM_AI_MODELS_FILE")
    order: list[tuple[str, str | None]] = [(flow.provider, flow_model_key(config, flow))]
    order += [(flow.provider, m) for m in flow.fallback_models]
    order += list(flow.fallback_providers)
    timeout_ms = settings.MEDIQOM_AI_TIMEOUT_MS or flow.timeout_ms or config.timeout_ms
    retries = settings.MEDIQOM_AI_MAX_RETRIES
    if retries < 0:
        retries = flow.max_retries if flow.max_retries is not None else config.max_retries
    backoff_ms = settings.MEDIQOM_AI_RETRY_BACKOFF_MS
    if backoff_ms < 0:
        backoff_ms = config.retry_backoff_ms
    result: list[Candidate] = []
    if settings.MEDIQOM_AI_OFFLINE:
        return flow, result
    seen: set[tuple[str, str]] = set()
    for provider_name, model_key in order:
        spec = config.providers[provider_name]
        if spec.kind == "local":
            if include_local and local_allowed(flow_name) and (provider_name, "local") not in seen:
                seen.add((provider_name, "local"))
                result.append(
                    Candidate(
                        provider=provider_name,
                        kind="local",
                        model_key="local",
                        model_id="local",
                        api_key=None,
                        base_url=None,
                        max_tokens=None,
                        temperature=0.0,
                        timeout_s=timeout_ms / 1000,
                        max_retries=0,  # deterministic: a retry would fail the same way
                        retry_backoff_s=0.0,
                    )
                )
            continue
        if model_key is None or not provider_configured(spec):
            continue
        if (provider_name, model_key) in seen:
            continue
        seen.add((provider_name, model_key))
        model = spec.models[model_key]
        result.append(
            Candidate(
                provider=provider_name,
                kind=spec.kind,
                model_key=model_key,
                model_id=_setting(model.model_id_setting) or model.model_id,
                api_key=_setting(spec.api_key_setting),
                base_url=_setting(spec.base_url_setting),
                max_tokens=model.max_tokens,
                temperature=model.temperature,
                timeout_s=timeout_ms / 1000,
                max_retries=retries,
                retry_backoff_s=backoff_ms / 1000,
            )
        )
    return flow, result


def local_allowed(flow_name: str) -> bool:
    """Whether the flow may run on the offline provider (primary `local`, or `local: true`)."""
    flow = ai_config().flows.get(flow_name)
    return flow is not None and (flow.local or flow.provider == "local")
