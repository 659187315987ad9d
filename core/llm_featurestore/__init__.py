"""llm-featurestore: feature-store facts about users, joined with retrieval at inference time.

The core: one client interface over Feast, Feast's feature server, Redis, Tecton and a
local store (:mod:`llm_featurestore.clients`); a serving layer with timeouts, fallback,
circuit breaker, cache and coalescing (:mod:`llm_featurestore.serving`); the
:class:`FeatureEnricher` that turns features into a token-budgeted, injection-safe
context block; the :class:`FeatureMonitor`; and the :class:`FeatureCatalog`.

Every public name is imported on first use: ``import llm_featurestore`` costs next to
nothing, ``from llm_featurestore import FeatureEnricher`` loads only what that needs,
and backends whose extra is missing fail only when used, saying what to install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llm_featurestore._lazy import lazy_exports

if TYPE_CHECKING:
    from llm_featurestore.catalog import FeatureCatalog, FeatureDefinition, FeatureLineage
    from llm_featurestore.clients.base import FeatureStoreClient, WritableFeatureStore
    from llm_featurestore.clients.feast import FeastClient
    from llm_featurestore.clients.feast_http import FeastHttpClient
    from llm_featurestore.clients.local import LocalFeatureStore
    from llm_featurestore.clients.redis import RedisFeatureStore
    from llm_featurestore.clients.tecton import TectonClient
    from llm_featurestore.config import FeatureStoreConfig, load_client, load_config
    from llm_featurestore.drift import DriftReport, compute_drift, population_stability_index
    from llm_featurestore.errors import (
        EncodingUnavailableError,
        FeatureAuthError,
        FeatureConfigError,
        FeatureStoreError,
        FeatureStoreUnavailableError,
        FeatureTimeoutError,
        FeatureValidationError,
        InvalidEntityIdError,
        MissingDependencyError,
        UnknownEntityTypeError,
    )
    from llm_featurestore.filters import FeatureFilterSpec, FilterRule, ResolvedCondition
    from llm_featurestore.models import FeatureStatus, FeatureVector
    from llm_featurestore.monitor import FeatureMonitor, MonitorStats
    from llm_featurestore.prompting.config import EnricherConfig
    from llm_featurestore.prompting.enricher import FeatureEnricher
    from llm_featurestore.prompting.results import DropReason, EnrichmentResult, FeatureProvenance
    from llm_featurestore.prompting.tokens import TokenCounter, get_token_counter
    from llm_featurestore.reading import FeatureReader, FeatureVectors, ReadRequest
    from llm_featurestore.serving import (
        CacheConfig,
        CircuitBreakerConfig,
        CoalesceConfig,
        ServingClient,
    )

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "FeatureCatalog": "llm_featurestore.catalog",
    "FeatureDefinition": "llm_featurestore.catalog",
    "FeatureLineage": "llm_featurestore.catalog",
    "FeatureStoreClient": "llm_featurestore.clients.base",
    "WritableFeatureStore": "llm_featurestore.clients.base",
    "LocalFeatureStore": "llm_featurestore.clients.local",
    "FeastClient": "llm_featurestore.clients.feast",
    "FeastHttpClient": "llm_featurestore.clients.feast_http",
    "RedisFeatureStore": "llm_featurestore.clients.redis",
    "TectonClient": "llm_featurestore.clients.tecton",
    "FeatureStoreConfig": "llm_featurestore.config",
    "load_client": "llm_featurestore.config",
    "load_config": "llm_featurestore.config",
    "DriftReport": "llm_featurestore.drift",
    "compute_drift": "llm_featurestore.drift",
    "population_stability_index": "llm_featurestore.drift",
    "DropReason": "llm_featurestore.prompting.results",
    "EnricherConfig": "llm_featurestore.prompting.config",
    "EnrichmentResult": "llm_featurestore.prompting.results",
    "FeatureEnricher": "llm_featurestore.prompting.enricher",
    "FeatureProvenance": "llm_featurestore.prompting.results",
    "EncodingUnavailableError": "llm_featurestore.errors",
    "FeatureAuthError": "llm_featurestore.errors",
    "FeatureConfigError": "llm_featurestore.errors",
    "InvalidEntityIdError": "llm_featurestore.errors",
    "UnknownEntityTypeError": "llm_featurestore.errors",
    "FeatureStoreError": "llm_featurestore.errors",
    "FeatureStoreUnavailableError": "llm_featurestore.errors",
    "FeatureTimeoutError": "llm_featurestore.errors",
    "FeatureValidationError": "llm_featurestore.errors",
    "MissingDependencyError": "llm_featurestore.errors",
    "FeatureFilterSpec": "llm_featurestore.filters",
    "FilterRule": "llm_featurestore.filters",
    "ResolvedCondition": "llm_featurestore.filters",
    "FeatureStatus": "llm_featurestore.models",
    "FeatureVector": "llm_featurestore.models",
    "FeatureMonitor": "llm_featurestore.monitor",
    "MonitorStats": "llm_featurestore.monitor",
    "FeatureReader": "llm_featurestore.reading",
    "FeatureVectors": "llm_featurestore.reading",
    "ReadRequest": "llm_featurestore.reading",
    "CacheConfig": "llm_featurestore.serving",
    "CircuitBreakerConfig": "llm_featurestore.serving",
    "CoalesceConfig": "llm_featurestore.serving",
    "ServingClient": "llm_featurestore.serving",
    "TokenCounter": "llm_featurestore.prompting.tokens",
    "get_token_counter": "llm_featurestore.prompting.tokens",
}


__all__ = [
    "CacheConfig",
    "CircuitBreakerConfig",
    "CoalesceConfig",
    "DriftReport",
    "DropReason",
    "EncodingUnavailableError",
    "EnricherConfig",
    "EnrichmentResult",
    "FeastClient",
    "FeastHttpClient",
    "FeatureAuthError",
    "FeatureCatalog",
    "FeatureConfigError",
    "FeatureDefinition",
    "FeatureEnricher",
    "FeatureFilterSpec",
    "FeatureLineage",
    "FeatureMonitor",
    "FeatureProvenance",
    "FeatureReader",
    "FeatureStatus",
    "FeatureStoreClient",
    "FeatureStoreConfig",
    "FeatureStoreError",
    "FeatureStoreUnavailableError",
    "FeatureTimeoutError",
    "FeatureValidationError",
    "FeatureVector",
    "FeatureVectors",
    "FilterRule",
    "InvalidEntityIdError",
    "LocalFeatureStore",
    "MissingDependencyError",
    "MonitorStats",
    "ReadRequest",
    "RedisFeatureStore",
    "ResolvedCondition",
    "ServingClient",
    "TectonClient",
    "TokenCounter",
    "UnknownEntityTypeError",
    "WritableFeatureStore",
    "__version__",
    "compute_drift",
    "get_token_counter",
    "load_client",
    "load_config",
    "population_stability_index",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
