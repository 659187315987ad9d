"""An LRU + TTL cache of :class:`~llm_featurestore.models.FeatureVector` values."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import TYPE_CHECKING

from llm_featurestore.models import FeatureVector

if TYPE_CHECKING:
    from llm_featurestore.serving.options import CacheConfig

__all__ = ["CacheKey", "VectorCache", "cache_key"]

CacheKey = tuple[str, str, tuple[str, ...]] | tuple[str, str, tuple[str, ...], tuple[Hashable, ...]]
"""``(entity_type, entity_id, feature_names)``, plus the frozen request data for a read
that carried some: a vector is only ever served to the exact entity, feature set and
request data it was read for."""


def cache_key(
    entity_type: str, entity_id: str, names: tuple[str, ...], frozen: tuple[Hashable, ...] = ()
) -> CacheKey:
    """The key of one read (see :data:`CacheKey`); ``frozen`` is
    :func:`~llm_featurestore.clients.base.freeze_request_data` of its request data."""
    return (entity_type, entity_id, names, frozen) if frozen else (entity_type, entity_id, names)


class VectorCache:
    """Thread-safe LRU cache whose entries expire ``ttl_seconds`` after they were stored.

    Args:
        ttl_seconds: Lifetime of an entry.
        max_entries: Capacity; storing beyond it evicts the least recently used entry.
        ttl_by_entity_type: Lifetimes of the entries of some entity types, overriding
            ``ttl_seconds`` for them.
        clock: Monotonic clock in seconds (injectable for tests).
    """

    def __init__(
        self,
        ttl_seconds: float,
        max_entries: int,
        *,
        ttl_by_entity_type: Mapping[str, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self.ttl_by_entity_type = dict(ttl_by_entity_type or {})
        self._clock = clock
        self._lock = threading.Lock()
        self._data: OrderedDict[CacheKey, tuple[float, FeatureVector]] = OrderedDict()
        self._by_entity: dict[tuple[str, str], set[CacheKey]] = {}

    @classmethod
    def from_config(
        cls, config: CacheConfig, *, clock: Callable[[], float] = time.monotonic
    ) -> VectorCache:
        """The cache a :class:`~llm_featurestore.serving.options.CacheConfig` describes."""
        return cls(
            config.ttl_seconds,
            config.max_entries,
            ttl_by_entity_type=config.ttl_seconds_by_entity_type,
            clock=clock,
        )

    def ttl_for(self, entity_type: str) -> float:
        """The lifetime of the entries of ``entity_type``."""
        return self.ttl_by_entity_type.get(entity_type, self.ttl_seconds)

    def get(self, key: CacheKey) -> FeatureVector | None:
        """The cached vector for ``key``, or None when absent or expired."""
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            expires, vector = entry
            if self._clock() >= expires:
                self._drop(key)
                return None
            self._data.move_to_end(key)
            return vector

    def put(self, key: CacheKey, vector: FeatureVector) -> None:
        """Store ``vector`` under ``key`` (its entity id and type must match the key)."""
        if (vector.entity_type, vector.entity_id) != key[:2]:
            raise ValueError(
                f"cache key {key[:2]} does not match vector "
                f"({vector.entity_type}, {vector.entity_id})"
            )
        with self._lock:
            self._data[key] = (self._clock() + self.ttl_for(key[0]), vector)
            self._data.move_to_end(key)
            self._by_entity.setdefault(key[:2], set()).add(key)
            while len(self._data) > self.max_entries:
                oldest = next(iter(self._data))
                self._drop(oldest)

    def invalidate(self, entity_type: str, entity_id: str) -> int:
        """Forget every cached feature set of one entity; returns how many entries went."""
        with self._lock:
            keys = self._by_entity.pop((entity_type, entity_id), set())
            for key in keys:
                self._data.pop(key, None)
            return len(keys)

    def invalidate_type(self, entity_type: str) -> int:
        """Forget every cached entry of one entity type; returns how many entries went."""
        with self._lock:
            entities = [e for e in self._by_entity if e[0] == entity_type]
            dropped = 0
            for entity in entities:
                for key in self._by_entity.pop(entity):
                    self._data.pop(key, None)
                    dropped += 1
            return dropped

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._by_entity.clear()

    def __len__(self) -> int:
        return len(self._data)

    def _drop(self, key: CacheKey) -> None:
        self._data.pop(key, None)
        keys = self._by_entity.get(key[:2])
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_entity[key[:2]]
