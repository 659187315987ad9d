"""Typed configuration: YAML (or a dict) in, a ready :class:`ServingClient` out.

Example::

    feature_store:
      provider: feast          # feast | feast_http | redis | tecton | local | a dotted path
      feast: {repo_path: ./feature_repo, project: shop}
      timeout_ms: 200
      fallback_on_timeout: true
      cache: {ttl_seconds: 30, max_entries: 100000, ttl_seconds_by_entity_type: {session: 5}}
      coalesce: {window_ms: 1.0, max_batch: 128}
      defaults: {user: {favorite_category: null, price_sensitivity_score: 0.5}}

Relative paths (``repo_path``, ``data_path``) are resolved against the YAML file's folder.
Other top-level sections of the file (for example ``enricher:``) are left to their owners.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, model_validator

from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.clients.feast.config import FeastClientConfig
from llm_featurestore.clients.feast_http.config import FeastHttpClientConfig
from llm_featurestore.clients.local import LocalFeatureStoreConfig
from llm_featurestore.clients.redis.config import RedisFeatureStoreConfig
from llm_featurestore.clients.tecton.config import TectonClientConfig
from llm_featurestore.config_errors import problem_error, shown_value
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.serving import (
    CacheConfig,
    CircuitBreakerConfig,
    CoalesceConfig,
    ServingClient,
)
from llm_featurestore.settings import BackendConfig, ConfigModel, PositiveSeconds, validate_config
from llm_featurestore.workers import WorkerConfig, configure_workers, worker_settings

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

# Each section is its backend's own settings class (defaults and bounds live there);
# the old names stay as aliases.
FeastSection = FeastClientConfig
FeastHttpSection = FeastHttpClientConfig
RedisSection = RedisFeatureStoreConfig
TectonSection = TectonClientConfig
LocalSection = LocalFeatureStoreConfig

BuiltinProvider = Literal["feast", "feast_http", "redis", "tecton", "local"]

PROVIDERS: dict[str, str] = {
    "feast": "llm_featurestore.clients.feast:FeastClient",
    "feast_http": "llm_featurestore.clients.feast_http:FeastHttpClient",
    "redis": "llm_featurestore.clients.redis:RedisFeatureStore",
    "tecton": "llm_featurestore.clients.tecton:TectonClient",
    "local": "llm_featurestore.clients.local:LocalFeatureStore",
}
"""Short provider names and the classes they load (imported lazily)."""


_SOURCES = "a YAML file path, a mapping (the feature_store section) or a FeatureStoreConfig"


class FeatureStoreConfig(ConfigModel):
    """The ``feature_store:`` section."""

    config_name = "feature store configuration"

    provider: str = Field(
        description="feast | feast_http | redis | tecton | local, or a dotted path "
        "`package.module:Class` to a FeatureStoreClient. Such a class declares its settings "
        "model as `config_class` (a BackendConfig), which validates `options`; without one, "
        "`options` are passed as keyword arguments."
    )
    feast: FeastClientConfig | None = None
    feast_http: FeastHttpClientConfig | None = None
    redis: RedisFeatureStoreConfig | None = None
    tecton: TectonClientConfig | None = None
    local: LocalFeatureStoreConfig | None = None
    options: dict[str, Any] = Field(
        default_factory=dict, description="Settings of a dotted-path provider."
    )
    timeout_ms: PositiveSeconds | None = Field(
        200.0, description="Budget of one store call, in milliseconds; null: no limit."
    )
    fallback_on_timeout: bool = Field(True, description="Degrade instead of raising.")
    cache: CacheConfig | None = None
    coalesce: CoalesceConfig | None = None
    circuit_breaker: CircuitBreakerConfig | None = Field(default_factory=CircuitBreakerConfig)
    defaults: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Cold-start values: {entity_type: {feature: value}}."
    )
    workers: WorkerConfig | None = Field(
        None,
        description="Sizes of the library's thread pools (process-wide: a change shuts the "
        "running pools down, to be created at the new size on next use).",
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
        FeatureConfigError: ``source`` is none of those, the file is unreadable or not
            valid YAML, or values do not validate; every problem is listed with its
            dotted location.
    """
    if isinstance(source, FeatureStoreConfig):
        return source, None
    if not isinstance(source, (str, os.PathLike, Mapping)):
        raise problem_error(
            FeatureStoreConfig.config_name,
            [("source", f"expected {_SOURCES} (got {shown_value(source)})")],
        )
    doc, base = _read(source)
    section = doc.get("feature_store", doc)
    origin = str(source) if not isinstance(source, Mapping) else "dict"
    if not isinstance(section, Mapping):
        raise problem_error(
            FeatureStoreConfig.config_name,
            [("feature_store", f"expected a mapping (got {shown_value(section)})")],
            origin=origin,
        )
    config = validate_config(FeatureStoreConfig, section, origin=origin, prefix=("feature_store",))
    return config, base


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


def _settings(
    config: FeatureStoreConfig, cls: type[FeatureStoreClient], base: Path | None
) -> BackendConfig | dict[str, Any]:
    """The backend's settings: its section (relative paths resolved), or ``options``."""
    if config.provider not in PROVIDERS:
        model = cls.config_class
        if model is None:
            return dict(config.options)
        options = {"type": model.model_fields["type"].default, **config.options}
        return validate_config(model, options, prefix=("feature_store", "options"))
    if config.provider == "feast" and config.feast is not None:
        return config.feast.model_copy(update={"repo_path": _resolve(config.feast.repo_path, base)})
    if config.provider == "local":
        local = config.local or LocalFeatureStoreConfig()
        path = _resolve(None if local.data_path is None else str(local.data_path), base)
        return local.model_copy(update={"data_path": None if path is None else Path(path)})
    section: BackendConfig = getattr(config, config.provider)
    return section


def build_backend(config: FeatureStoreConfig, base: Path | None = None) -> FeatureStoreClient:
    """Instantiate the configured backend, without the serving layer."""
    cls = _import_class(PROVIDERS.get(config.provider, config.provider))
    settings = _settings(config, cls, base)
    if isinstance(settings, dict):
        try:
            return cls(**settings)
        except TypeError as exc:
            raise FeatureConfigError(
                f"Provider '{config.provider}' rejected its settings: {exc}"
            ) from exc
    return cls(settings)  # type: ignore[call-arg]


def load_client(
    source: str | os.PathLike[str] | Mapping[str, Any] | FeatureStoreConfig,
) -> ServingClient:
    """Build a ready client (backend wrapped in its serving layer) from configuration.

    Args:
        source: A YAML file path, a dict (with or without the top-level
            ``feature_store`` key), or a :class:`FeatureStoreConfig`.

    Raises:
        FeatureConfigError: ``source`` is none of those, or the configuration is
            invalid (all problems are listed).
        MissingDependencyError: the provider's extra is not installed.
    """
    config, base = load_config(source)
    if config.workers is not None and config.workers != worker_settings():
        configure_workers(
            config.workers.workers, serving_lane_workers=config.workers.serving_lane_workers
        )
    return ServingClient(
        build_backend(config, base),
        timeout_ms=config.timeout_ms,
        fallback_on_timeout=config.fallback_on_timeout,
        cache=config.cache,
        coalesce=config.coalesce,
        circuit_breaker=config.circuit_breaker,
        defaults=config.defaults,
    )
