"""Writes through the serving layer: which backends take them, and what the cache forgets.

Read-your-writes: a write or push through a :class:`~llm_featurestore.serving.ServingClient`
drops the cache entries of every entity it touched (every feature set and request data),
so the next read in this process goes to the store. Writes made elsewhere (another
process, a raw Feast ``push``) are not seen by this cache: bound their staleness with a
short ``CacheConfig.ttl_seconds_by_entity_type`` for the entity types written elsewhere,
or call ``ServingClient.invalidate`` when you know of the write.
"""

from __future__ import annotations

from llm_featurestore.clients.base import (
    EntityKey,
    FeatureStoreClient,
    PushableFeatureStore,
    WritableFeatureStore,
)
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.serving.cache import VectorCache

__all__ = ["PUSHABLE_BACKENDS", "WRITABLE_BACKENDS", "forget", "pushable", "writable"]

WRITABLE_BACKENDS = ("local", "redis", "feast", "feast_http")
"""The built-in backends this library writes to (named when a backend is read-only)."""
PUSHABLE_BACKENDS = ("feast", "feast_http")
"""The built-in backends with push sources (named when a backend has none)."""


def writable(backend: FeatureStoreClient) -> WritableFeatureStore:
    """``backend`` as a store that takes writes.

    Raises:
        FeatureConfigError: it is read-only (the message names it and those that write).
    """
    if not isinstance(backend, WritableFeatureStore):
        raise FeatureConfigError(
            f"The {type(backend).__name__} backend is read-only; write through "
            f"the store's own ingestion path (writable: {', '.join(WRITABLE_BACKENDS)})"
        )
    return backend


def pushable(backend: FeatureStoreClient) -> PushableFeatureStore:
    """``backend`` as a store with push sources.

    Raises:
        FeatureConfigError: it has none (the message names it and those that do).
    """
    if not isinstance(backend, PushableFeatureStore):
        raise FeatureConfigError(
            f"The {type(backend).__name__} backend has no push sources; push through a "
            f"backend that has them ({', '.join(PUSHABLE_BACKENDS)}), or write the "
            "features with write_features"
        )
    return backend


def forget(cache: VectorCache | None, keys: list[EntityKey]) -> int:
    """Drop the cache entries of every entity in ``keys``; returns how many went."""
    if cache is None:
        return 0
    return sum(cache.invalidate(key.entity_type, key.entity_id) for key in keys)
