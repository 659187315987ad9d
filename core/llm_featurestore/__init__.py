"""llm-featurestore: feature-store facts about users, joined with retrieval at inference time.

The core: one client interface over Feast, Feast's feature server, Redis, Tecton and a
local store (:mod:`llm_featurestore.clients`); a serving layer with timeouts, fallback,
circuit breaker, cache and coalescing (:mod:`llm_featurestore.serving`); the
:class:`FeatureEnricher` that turns features into a token-budgeted, injection-safe
context block; the :class:`FeatureMonitor`; and the :class:`FeatureCatalog`.

Backends that need an optional extra (``FeastClient``, ``FeastHttpClient``,
``RedisFeatureStore``, ``TectonClient``) are imported on first use, so
``import llm_featurestore`` stays light and works without them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from llm_featurestore.catalog import FeatureCatalog, FeatureDefinition, FeatureLineage
from llm_featurestore.clients.base import FeatureStoreClient, WritableFeatureStore
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.config import FeatureStoreConfig, load_client, load_config
from llm_featurestore.drift import DriftReport, compute_drift, population_stability_index
from llm_featurestore.enricher import (
    DropReason,
    EnricherConfig,
    EnrichmentResult,
    FeatureEnricher,
    FeatureProvenance,
)
from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureStoreError,
    FeatureStoreUnavailableError,
    FeatureTimeoutError,
    FeatureValidationError,
    MissingDependencyError,
)
from llm_featurestore.filters import FeatureFilterSpec, FilterRule, ResolvedCondition
from llm_featurestore.models import FeatureStatus, FeatureVector
from llm_featurestore.monitor import FeatureMonitor, MonitorStats
from llm_featurestore.serving import (
    CacheConfig,
    CircuitBreakerConfig,
    CoalesceConfig,
    ServingClient,
)
from llm_featurestore.tokens import EncodingUnavailableError, TokenCounter, get_token_counter

if TYPE_CHECKING:
    from llm_featurestore.clients.feast import FeastClient
    from llm_featurestore.clients.feast_http import FeastHttpClient
    from llm_featurestore.clients.redis import RedisFeatureStore
    from llm_featurestore.clients.tecton import TectonClient

__version__ = "0.1.0"

_LAZY = {
    "FeastClient": "llm_featurestore.clients.feast",
    "FeastHttpClient": "llm_featurestore.clients.feast_http",
    "RedisFeatureStore": "llm_featurestore.clients.redis",
    "TectonClient": "llm_featurestore.clients.tecton",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llm_featurestore' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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
    "FeatureCatalog",
    "FeatureConfigError",
    "FeatureDefinition",
    "FeatureEnricher",
    "FeatureFilterSpec",
    "FeatureLineage",
    "FeatureMonitor",
    "FeatureProvenance",
    "FeatureStatus",
    "FeatureStoreClient",
    "FeatureStoreConfig",
    "FeatureStoreError",
    "FeatureStoreUnavailableError",
    "FeatureTimeoutError",
    "FeatureValidationError",
    "FeatureVector",
    "FilterRule",
    "LocalFeatureStore",
    "MissingDependencyError",
    "MonitorStats",
    "RedisFeatureStore",
    "ResolvedCondition",
    "ServingClient",
    "TectonClient",
    "TokenCounter",
    "WritableFeatureStore",
    "__version__",
    "compute_drift",
    "get_token_counter",
    "load_client",
    "load_config",
    "population_stability_index",
]
