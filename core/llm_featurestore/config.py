"""Typed configuration: YAML (or a dict) in, a ready :class:`ServingClient` out.

Example::

    feature_store:
      provider: feast          # feast | feast_http | redis | tecton | local | a dotted path
      feast: {repo_path: ./feature_repo, project: shop}
      timeout_ms: 200
      fallback_on_timeout: true
      cache: {ttl_seconds: 30, max_entries: 100000}
      coalesce: {window_ms: 1.0, max_batch: 128}
      defaults: {user: {favorite_category: null, price_sensitivity_score: 0.5}}

Relative paths (``repo_path``, ``data_path``) are resolved against the YAML file's folder.
Other top-level sections of the file (for example ``enricher:``) are left to their owners.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.serving import (
    CacheConfig,
    CircuitBreakerConfig,
    CoalesceConfig,
    ServingClient,
)

__all__ = [
    "PROVIDERS",
    "FeastHttpSection",
    "FeastSection",
    "FeatureStoreConfig",
    "LocalSection",
    "RedisSection",
    "TectonSection",
    "build_backend",
    "load_client",
    "load_config",
]

MaxAge = float | dict[str, float] | None


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeastSection(_Section):
    repo_path: str = Field(description="Folder holding feature_store.yaml.")
    project: str | None = Field(None, description="Feast project; the repo's own by default.")


class FeastHttpSection(_Section):
    url: str = Field(description="Base URL of `feast serve`, e.g. http://127.0.0.1:6566.")
    timeout_s: float = Field(5.0, gt=0, description="HTTP timeout of one request.")
    max_connections: int = Field(100, gt=0, description="Size of the connection pool.")
    join_keys: dict[str, str] | None = Field(
        None, description="entity type -> join key (default `<type>_id`)."
    )
    ttl_seconds: dict[str, float] | None = Field(
        None, description="feature view -> ttl; older values read as STALE."
    )
    features: dict[str, list[str]] | None = Field(
        None,
        description="entity type -> feature refs, for list_features and bare names "
        "(`feast serve` has no listing endpoint).",
    )


class RedisSection(_Section):
    url: str = Field("redis://127.0.0.1:6379/0", description="redis:// or rediss:// URL.")
    namespace: str = Field("llmfs", description="Key prefix: `<namespace>:<type>:<id>`.")
    max_age_seconds: MaxAge = Field(None, description="Older values read as STALE.")
    socket_timeout_s: float = Field(1.0, gt=0, description="Reply and connect timeout.")
    retries: int = Field(1, ge=0, description="Retries of a failed connection.")
    max_connections: int = Field(64, gt=0, description="Size of the connection pool.")


class TectonSection(_Section):
    url: str = Field(description="Cluster URL, e.g. https://acme.tecton.ai.")
    workspace: str
    feature_service: str
    api_key_env: str = Field("TECTON_API_KEY", description="Environment variable with the key.")
    join_key: str | dict[str, str] | None = Field(
        None, description="Join key, or entity type -> join key (default `<type>_id`)."
    )
    request_context: dict[str, Any] | None = Field(
        None, description="request_context_map sent with every request."
    )
    max_age_seconds: MaxAge = Field(None, description="Older effective times read as STALE.")
    timeout_s: float = Field(2.0, gt=0, description="HTTP timeout of one request.")
    micro_batch_size: int = Field(5, gt=0, description="Entities per get-features-batch call.")
    max_connections: int = Field(32, gt=0, description="Size of the connection pool.")
    retries: int = Field(1, ge=0, description="Retries of a failed connection.")


class LocalSection(_Section):
    data_path: str | None = Field(None, description="JSON file; in memory when omitted.")
    max_age_seconds: MaxAge = Field(None, description="Older values read as STALE.")


BuiltinProvider = Literal["feast", "feast_http", "redis", "tecton", "local"]

PROVIDERS: dict[str, str] = {
    "feast": "llm_featurestore.clients.feast:FeastClient",
    "feast_http": "llm_featurestore.clients.feast_http:FeastHttpClient",
    "redis": "llm_featurestore.clients.redis:RedisFeatureStore",
    "tecton": "llm_featurestore.clients.tecton:TectonClient",
    "local": "llm_featurestore.clients.local:LocalFeatureStore",
}
"""Short provider names and the classes they load (imported lazily)."""


class FeatureStoreConfig(BaseModel):
    """The ``feature_store:`` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str = Field(
        description="feast | feast_http | redis | tecton | local, or a dotted path "
        "`package.module:Class` to a FeatureStoreClient taking `options` as keyword arguments."
    )
    feast: FeastSection | None = None
    feast_http: FeastHttpSection | None = None
    redis: RedisSection | None = None
    tecton: TectonSection | None = None
    local: LocalSection | None = None
    options: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for a dotted-path provider."
    )
    timeout_ms: float | None = Field(200.0, gt=0, description="Budget of one store call.")
    fallback_on_timeout: bool = Field(True, description="Degrade instead of raising.")
    cache: CacheConfig | None = None
    coalesce: CoalesceConfig | None = None
    circuit_breaker: CircuitBreakerConfig | None = Field(default_factory=CircuitBreakerConfig)
    defaults: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Cold-start values: {entity_type: {feature: value}}."
    )

    @model_validator(mode="after")
    def _provider_has_its_section(self) -> FeatureStoreConfig:
        if self.provider in PROVIDERS:
            if self.provider != "local" and getattr(self, self.provider) is None:
                raise ValueError(
                    f"provider '{self.provider}' needs a '{self.provider}:' section "
                    f"(see the configuration reference in the README)"
                )
        elif ":" not in self.provider:
            raise ValueError(
                f"Unknown provider '{self.provider}'. Available: "
                f"{', '.join(sorted(PROVIDERS))}, or a dotted path 'package.module:Class'"
            )
        return self


def _format_validation_error(exc: ValidationError, origin: str) -> str:
    lines = [f"Invalid feature store configuration ({origin}):"]
    for err in exc.errors():
        where = ".".join(str(p) for p in ("feature_store", *err["loc"]))
        lines.append(f"  {where}: {err['msg']}")
    return "\n".join(lines)


def _read(source: str | os.PathLike[str] | Mapping[str, Any]) -> tuple[dict[str, Any], Path | None]:
    if isinstance(source, Mapping):
        return dict(source), None
    path = Path(source)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise FeatureConfigError(f"Configuration file not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise FeatureConfigError(f"Configuration file {path} is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise FeatureConfigError(f"Configuration file {path} must hold a mapping at the top")
    return doc, path.parent


def load_config(
    source: str | os.PathLike[str] | Mapping[str, Any] | FeatureStoreConfig,
) -> tuple[FeatureStoreConfig, Path | None]:
    """Parse a YAML path or dict into a :class:`FeatureStoreConfig`.

    Returns:
        The config and the folder relative paths are resolved against (None for dicts).

    Raises:
        FeatureConfigError: unreadable file, invalid YAML, or values that do not
            validate; every problem is listed with its dotted location.
    """
    if isinstance(source, FeatureStoreConfig):
        return source, None
    doc, base = _read(source)
    section = doc.get("feature_store", doc)
    origin = str(source) if not isinstance(source, Mapping) else "dict"
    if not isinstance(section, Mapping):
        raise FeatureConfigError(f"'feature_store' must be a mapping ({origin})")
    try:
        return FeatureStoreConfig.model_validate(section), base
    except ValidationError as exc:
        raise FeatureConfigError(_format_validation_error(exc, origin)) from exc


def _resolve(path: str | None, base: Path | None) -> str | None:
    if path is None or base is None or Path(path).is_absolute():
        return path
    return str((base / path).resolve())


def _import_class(target: str) -> type[FeatureStoreClient]:
    module_name, _, attr = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        if isinstance(exc, ImportError) and getattr(exc, "extra", None):
            raise
        raise FeatureConfigError(f"Cannot load provider class '{target}': {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, FeatureStoreClient)):
        raise FeatureConfigError(f"Provider '{target}' is not a FeatureStoreClient subclass")
    return cls


def _backend_kwargs(config: FeatureStoreConfig, base: Path | None) -> dict[str, Any]:
    builders: dict[str, Callable[[], dict[str, Any]]] = {
        "feast": lambda: {
            "repo_path": _resolve(config.feast.repo_path, base),  # type: ignore[union-attr]
            "project": config.feast.project,  # type: ignore[union-attr]
        },
        "feast_http": lambda: config.feast_http.model_dump(exclude_none=True),  # type: ignore[union-attr]
        "redis": lambda: config.redis.model_dump(),  # type: ignore[union-attr]
        "tecton": lambda: config.tecton.model_dump(exclude_none=True),  # type: ignore[union-attr]
        "local": lambda: {
            "data_path": _resolve(config.local.data_path if config.local else None, base),
            "max_age_seconds": config.local.max_age_seconds if config.local else None,
        },
    }
    builder = builders.get(config.provider)
    return builder() if builder else dict(config.options)


def build_backend(config: FeatureStoreConfig, base: Path | None = None) -> FeatureStoreClient:
    """Instantiate the configured backend, without the serving layer."""
    cls = _import_class(PROVIDERS.get(config.provider, config.provider))
    try:
        return cls(**_backend_kwargs(config, base))
    except TypeError as exc:
        raise FeatureConfigError(
            f"Provider '{config.provider}' rejected its settings: {exc}"
        ) from exc


def load_client(
    source: str | os.PathLike[str] | Mapping[str, Any] | FeatureStoreConfig,
) -> ServingClient:
    """Build a ready client (backend wrapped in its serving layer) from configuration.

    Args:
        source: A YAML file path, a dict (with or without the top-level
            ``feature_store`` key), or a :class:`FeatureStoreConfig`.

    Raises:
        FeatureConfigError: the configuration is invalid (all problems are listed).
        MissingDependencyError: the provider's extra is not installed.
    """
    config, base = load_config(source)
    return ServingClient(
        build_backend(config, base),
        timeout_ms=config.timeout_ms,
        fallback_on_timeout=config.fallback_on_timeout,
        cache=config.cache,
        coalesce=config.coalesce,
        circuit_breaker=config.circuit_breaker,
        defaults=config.defaults,
    )
