"""Features kept directly in Redis: one hash per entity, read with pipelined ``HMGET``.

* :mod:`.codec`: the key layout, and values and event times to and from bytes (pure);
* :mod:`.config`: :class:`RedisFeatureStoreConfig`, the settings (no driver needed);
* :mod:`.connection`: the sync pool, the per-loop async pools, driver error mapping;
* :mod:`.registry`: the per-process copy of the feature names each type holds;
* :mod:`.store`: :class:`RedisFeatureStore`, reads and writes.

The codec and the settings import without the ``redis`` package; the store is imported
on first use of :class:`RedisFeatureStore`, and raises
:class:`~llm_featurestore.errors.MissingDependencyError` naming the extra when the
driver is missing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# The layout constants stay importable from here, as from the module this package replaced.
from llm_featurestore.clients.redis.codec import ENTITY_TYPES_SET as ENTITY_TYPES_SET
from llm_featurestore.clients.redis.codec import FEATURES_SET as FEATURES_SET
from llm_featurestore.clients.redis.codec import TS_PREFIX as TS_PREFIX
from llm_featurestore.clients.redis.codec import decode_row, encode_features
from llm_featurestore.clients.redis.config import RedisFeatureStoreConfig

if TYPE_CHECKING:
    from llm_featurestore.clients.redis.store import RedisFeatureStore

__all__ = ["RedisFeatureStore", "RedisFeatureStoreConfig", "decode_row", "encode_features"]


def __getattr__(name: str) -> Any:
    if name == "RedisFeatureStore":
        value = importlib.import_module("llm_featurestore.clients.redis.store").RedisFeatureStore
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
